"""A new policy version as typed into the admin form, checked field by field, without a request."""

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any
from zoneinfo import available_timezones

import pydantic

from escalation.sla import BusinessCalendar, SlaPolicy
from models import PolicyVersion
from models.policy import (
    NOTE_MAX,
    PolicyData,
)

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
LEVELS = ("1", "2", "3")
MAX_HOLIDAYS = 1000
# Enough bad holiday lines to see the pattern; a pasted file of garbage should not flood the page.
MAX_LINE_ERRORS = 10
# Names the zone database holds that depend on the server rather than naming a place.
_HOST_ZONES = {"localtime", "posixrules"}
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- the numbers and their bounds ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bound:
    """The range a number may take; above=True leaves out the low end itself."""

    low: float
    high: float
    whole: bool = False
    above: bool = False

    def holds(self, value: float) -> bool:
        """Return True when value lies within the bound."""
        if self.whole and not float(value).is_integer():
            return False
        low_ok = value > self.low if self.above else value >= self.low
        return low_ok and value <= self.high

    def message(self) -> str:
        """Say what the bound allows."""
        kind = "a whole number" if self.whole else "a number"
        low, high = format_number(self.low), format_number(self.high)
        if self.above:
            return f"Enter {kind} above {low} and at most {high}."
        return f"Enter {kind} from {low} to {high}."


# Upper ends keep values within what the date and SLA arithmetic can use (a lifetime beyond
# datetime's range would fail at approval) and catch a slipped extra digit.
BOUNDS: dict[str, Bound] = {
    "pc_threshold": Bound(0, 10_000_000, whole=True),
    "fuzzy_match_score": Bound(0, 100),
    "fuzzy_review_score": Bound(0, 100),
    "high_impact_value": Bound(0, 10_000_000_000, whole=True),
    **{f"sla_hours_{lvl}": Bound(0, 1000, above=True) for lvl in LEVELS},
    **{f"exception_sla_hours_{lvl}": Bound(0, 1000, above=True) for lvl in LEVELS},
    "sla_warning_hours": Bound(0, 1000),
    "registration_lifetime_days": Bound(1, 3650, whole=True),
    "reminder_lead_days": Bound(0, 3650, whole=True),
    "extension_days": Bound(1, 3650, whole=True),
    "review_period_months": Bound(1, 120, whole=True),
}


def format_number(value: float) -> str:
    """Format a number with thousands separators and no needless ".0"."""
    if isinstance(value, bool):
        return str(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,}"


def initial_input(version: PolicyVersion) -> dict[str, Any]:
    """Return the form's values for a policy version."""
    p = version.values
    cal = p.calendar
    data: dict[str, Any] = {
        "base_version": str(version.version),
        "pc_threshold": p.pc_threshold,
        "fuzzy_match_score": _plain(p.fuzzy_match_score),
        "fuzzy_review_score": _plain(p.fuzzy_review_score),
        "high_impact_value": p.high_impact_value,
        "sla_warning_hours": _plain(p.sla_warning_hours),
        "registration_lifetime_days": p.registration_lifetime_days,
        "reminder_lead_days": p.reminder_lead_days,
        "extension_days": p.extension_days,
        "review_period_months": p.review_period_months,
        "auto_publish_synced_lists": p.auto_publish_synced_lists,
        "timezone": cal.timezone,
        "day_start": cal.day_start,
        "day_end": cal.day_end,
        "workdays": sorted(cal.workdays),
        "holidays": "\n".join(sorted(cal.holidays)),
        "note": "",
    }
    for lvl in LEVELS:
        data[f"sla_hours_{lvl}"] = _plain(p.sla_hours.get(lvl))
        data[f"exception_sla_hours_{lvl}"] = _plain(p.exception_sla_hours.get(lvl))
    return data


def _plain(value: float | None) -> float | int | None:
    # 16.0 reads better as 16 in an input; the stored value stays a float.
    if value is not None and float(value).is_integer():
        return int(value)
    return value


# --- the check (pure) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PolicyInput:
    """Checked values for a new version and the reason given for it."""

    values: PolicyData
    note: str


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) - _HOST_ZONES


def check_timezone(name: str) -> str | None:
    """Return why name is not a usable time-zone name, or None when it is."""
    if not name:
        return "Enter a time-zone name such as America/New_York."
    if name not in _zone_names():
        shown = name if len(name) <= 60 else name[:60] + "…"
        return (
            f"“{shown}” is not a time-zone name; use one such as America/New_York or Europe/Berlin."
        )
    return None


def parse_clock(text: str) -> str | None:
    """Return a wall-clock time as HH:MM, or None when text is not one."""
    found = _CLOCK.fullmatch(text.strip())
    if found is None:
        return None
    hour, minute = int(found.group(1)), int(found.group(2))
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def parse_holidays(text: str) -> tuple[list[str], list[str]]:
    """Return the dates of a one-per-line list, sorted and unique, and a message per bad line."""
    dates: set[str] = set()
    errors: list[str] = []
    bad = 0
    for number, line in enumerate(text.splitlines(), start=1):
        entry = line.strip()
        if not entry:
            continue
        day = _iso_date(entry)
        if day is not None:
            dates.add(day)
            continue
        bad += 1
        if bad <= MAX_LINE_ERRORS:
            shown = entry if len(entry) <= 40 else entry[:40] + "…"
            errors.append(f"Line {number}: “{shown}” is not a date; write it as YYYY-MM-DD.")
    if bad > MAX_LINE_ERRORS:
        errors.append(f"… and {bad - MAX_LINE_ERRORS} more lines that are not dates.")
    if not errors and len(dates) > MAX_HOLIDAYS:
        errors.append(f"List at most {MAX_HOLIDAYS:,} holidays.")
    return sorted(dates), errors


def _iso_date(entry: str) -> str | None:
    if not _ISO_DATE.fullmatch(entry):
        return None
    try:
        return date.fromisoformat(entry).isoformat()
    except ValueError:
        return None


def _check_numbers(raw: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    numbers: dict[str, Any] = {}
    for name, bound in BOUNDS.items():
        value = raw.get(name)
        ok_type = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok_type or not math.isfinite(value) or not bound.holds(value):
            errors.setdefault(name, []).append(bound.message())
        else:
            numbers[name] = int(value) if bound.whole else float(value)
    return numbers


def _check_relations(numbers: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
    match, review = numbers.get("fuzzy_match_score"), numbers.get("fuzzy_review_score")
    if match is not None and review is not None and review > match:
        errors.setdefault("fuzzy_review_score", []).append(
            f"The review score must not be above the match score ({format_number(match)}): names "
            "scoring between the two go to review, names at or above the match score count as "
            "the account."
        )
    _check_warning(numbers, errors)
    lifetime, lead = numbers.get("registration_lifetime_days"), numbers.get("reminder_lead_days")
    if lifetime is not None and lead is not None and lead >= lifetime:
        errors.setdefault("reminder_lead_days", []).append(
            f"The reminder must come before the registration expires: use fewer days than the "
            f"lifetime ({format_number(lifetime)})."
        )


def _shortest_sla(numbers: Mapping[str, Any]) -> tuple[float, str] | None:
    slas = [
        (numbers[f"{prefix}_{lvl}"], f"the {kind} SLA at level {lvl}")
        for prefix, kind in (("sla_hours", "conflict"), ("exception_sla_hours", "exception"))
        for lvl in LEVELS
        if f"{prefix}_{lvl}" in numbers
    ]
    return min(slas, key=lambda sla: sla[0]) if slas else None


def _check_warning(numbers: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
    # A warning as long as an SLA would call every ticket at that level due soon on opening.
    warning, shortest = numbers.get("sla_warning_hours"), _shortest_sla(numbers)
    if warning is None or shortest is None or warning < shortest[0]:
        return
    hours, which = shortest
    errors.setdefault("sla_warning_hours", []).append(
        f"The due-soon warning must be shorter than the shortest SLA, {which} "
        f"({format_number(hours)} business hours); otherwise every such ticket is due soon "
        "as soon as it opens."
    )


def _check_calendar(raw: Mapping[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    timezone = str(raw.get("timezone") or "").strip()
    zone_error = check_timezone(timezone)
    if zone_error:
        errors.setdefault("timezone", []).append(zone_error)
    start = parse_clock(str(raw.get("day_start") or ""))
    end = parse_clock(str(raw.get("day_end") or ""))
    for name, value in (("day_start", start), ("day_end", end)):
        if value is None:
            errors.setdefault(name, []).append("Enter a time as HH:MM, e.g. 09:00 or 17:30.")
    if start is not None and end is not None and start >= end:
        errors.setdefault("day_end", []).append(
            f"The working day must end after it starts ({start})."
        )
    raw_days = list(raw.get("workdays") or [])
    days = sorted({d for d in raw_days if isinstance(d, int) and 0 <= d <= 6})
    if len(days) != len(set(raw_days)):
        errors.setdefault("workdays", []).append("Choose days from Monday to Sunday.")
    elif not days:
        errors.setdefault("workdays", []).append("Choose at least one working day.")
    holidays, holiday_errors = parse_holidays(str(raw.get("holidays") or ""))
    if holiday_errors:
        errors.setdefault("holidays", []).extend(holiday_errors)
    return {
        "timezone": timezone,
        "day_start": start,
        "day_end": end,
        "workdays": days,
        "holidays": holidays,
    }


def _check_note(raw: Mapping[str, Any], errors: dict[str, list[str]]) -> str:
    note = str(raw.get("note") or "").strip()
    if not note:
        errors.setdefault("note", []).append(
            "Say why the policy changes; the history shows it next to the change."
        )
    elif len(note) > NOTE_MAX:
        errors.setdefault("note", []).append(
            f"Keep the note to {NOTE_MAX} characters (it has {len(note):,})."
        )
    return note


def _policy_data(numbers: Mapping[str, Any], raw: Mapping[str, Any], cal: dict[str, Any]) -> Any:
    return {
        "pc_threshold": numbers["pc_threshold"],
        "fuzzy_match_score": numbers["fuzzy_match_score"],
        "fuzzy_review_score": numbers["fuzzy_review_score"],
        "high_impact_value": numbers["high_impact_value"],
        "sla_hours": {lvl: numbers[f"sla_hours_{lvl}"] for lvl in LEVELS},
        "exception_sla_hours": {lvl: numbers[f"exception_sla_hours_{lvl}"] for lvl in LEVELS},
        "sla_warning_hours": numbers["sla_warning_hours"],
        "registration_lifetime_days": numbers["registration_lifetime_days"],
        "reminder_lead_days": numbers["reminder_lead_days"],
        "extension_days": numbers["extension_days"],
        "review_period_months": numbers["review_period_months"],
        "auto_publish_synced_lists": bool(raw.get("auto_publish_synced_lists")),
        "calendar": cal,
    }


def _field_of(loc: tuple[Any, ...]) -> str:
    """Return the form field a model error location points at."""
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] in ("sla_hours", "exception_sla_hours"):
        return f"{parts[0]}_{parts[1]}"
    if len(parts) >= 2 and parts[0] == "calendar":
        return parts[1]
    return parts[0] if parts else "pc_threshold"


def check_policy_input(
    raw: Mapping[str, Any],
) -> tuple[PolicyInput | None, dict[str, list[str]]]:
    """Check a policy form's typed values; return the new version's input or messages by field."""
    errors: dict[str, list[str]] = {}
    numbers = _check_numbers(raw, errors)
    _check_relations(numbers, errors)
    cal = _check_calendar(raw, errors)
    note = _check_note(raw, errors)
    if errors:
        return None, errors
    try:
        values = PolicyData.model_validate(_policy_data(numbers, raw, cal))
        # The SLA code builds these from every version; a value it refuses must stop here.
        BusinessCalendar.from_dict(values.calendar.model_dump())
        SlaPolicy.from_dict(values.model_dump())
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            errors.setdefault(_field_of(tuple(err["loc"])), []).append(err["msg"])
        return None, errors
    except ValueError as exc:
        errors.setdefault("timezone", []).append(f"The calendar cannot be used: {exc}.")
        return None, errors
    return PolicyInput(values=values, note=note), {}
