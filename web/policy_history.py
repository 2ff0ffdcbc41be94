"""The policy's versions as the admin page lists them: who, when, why and what changed."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from models import PolicyVersion, User
from models.policy import policy_changes
from web.policy_input import DAY_NAMES, LEVELS, format_number
from web.templating import format_money

CHANGE_LABELS: dict[str, str] = {
    "pc_threshold": "PC threshold",
    "fuzzy_match_score": "Fuzzy match score",
    "fuzzy_review_score": "Fuzzy review score",
    "high_impact_value": "High-impact .NET value",
    **{f"sla_hours.{lvl}": f"Conflict SLA, level {lvl}" for lvl in LEVELS},
    **{f"exception_sla_hours.{lvl}": f"Exception SLA, level {lvl}" for lvl in LEVELS},
    "sla_warning_hours": "Due-soon warning",
    "registration_lifetime_days": "Registration lifetime",
    "reminder_lead_days": "Expiry reminder",
    "extension_days": "Extension",
    "review_period_months": "District list review period",
    "auto_publish_synced_lists": "Publish synced lists automatically",
    "calendar.timezone": "Time zone",
    "calendar.day_start": "Working day starts",
    "calendar.day_end": "Working day ends",
    "calendar.workdays": "Working days",
    "calendar.holidays": "Holidays",
}


def _hours(value: Any) -> str:
    return f"{format_number(value)} business hours"


def _days(value: Any) -> str:
    return f"{format_number(value)} days"


def _weekdays(value: Any) -> str:
    return ", ".join(DAY_NAMES[d][:3] for d in sorted(value or []) if 0 <= d <= 6) or "none"


def _dates(value: Any) -> str:
    count = len(value or [])
    return f"{count} date" if count == 1 else f"{count} dates"


_FORMATS: dict[str, Callable[[Any], str]] = {
    "pc_threshold": lambda v: f"{format_number(v)} PCs",
    "high_impact_value": lambda v: format_money(int(v)),
    "fuzzy_match_score": format_number,
    "fuzzy_review_score": format_number,
    **{f"sla_hours.{lvl}": _hours for lvl in LEVELS},
    **{f"exception_sla_hours.{lvl}": _hours for lvl in LEVELS},
    "sla_warning_hours": _hours,
    "registration_lifetime_days": _days,
    "reminder_lead_days": lambda v: f"{format_number(v)} days before expiry",
    "extension_days": _days,
    "review_period_months": lambda v: f"{format_number(v)} months",
    "auto_publish_synced_lists": lambda v: "yes" if v else "no",
    "calendar.workdays": _weekdays,
    "calendar.holidays": _dates,
}


@dataclass(frozen=True, slots=True)
class Change:
    """One value that differs from the previous version, ready to show."""

    label: str
    old: str
    new: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A policy version, who made it and what it changed."""

    version: PolicyVersion
    author: str | None
    changes: list[Change] = field(default_factory=list)
    first: bool = False


def describe_changes(changed: Mapping[str, list[Any]]) -> list[Change]:
    """Turn {field: [old, new]} into readable lines."""
    lines = []
    for key, (old, new) in changed.items():
        fmt = _FORMATS.get(key, lambda v: "—" if v is None else str(v))
        detail = ""
        if key == "calendar.holidays":
            added = sorted(set(new or []) - set(old or []))
            removed = sorted(set(old or []) - set(new or []))
            parts = []
            if added:
                parts.append("added " + ", ".join(added))
            if removed:
                parts.append("removed " + ", ".join(removed))
            detail = "; ".join(parts)
        lines.append(Change(CHANGE_LABELS.get(key, key), fmt(old), fmt(new), detail))
    return lines


def policy_history(sess: Session) -> list[HistoryEntry]:
    """Return every version, newest first, each with its author and its changes."""
    rows = sess.execute(
        sa.select(PolicyVersion, User)
        .outerjoin(User, User.id == PolicyVersion.created_by_id)
        .order_by(PolicyVersion.version.asc())
    ).all()
    entries: list[HistoryEntry] = []
    previous: PolicyVersion | None = None
    for version, user in rows:
        author = user.display_name if user is not None else None
        if previous is None:
            entries.append(HistoryEntry(version, author, first=True))
        else:
            changed = policy_changes(previous.values, version.values)
            entries.append(HistoryEntry(version, author, describe_changes(changed)))
        previous = version
    return entries[::-1]
