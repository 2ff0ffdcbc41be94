"""Business-time SLA arithmetic over a working calendar (pure)."""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from escalation.states import LEVELS, TicketType, check_level

_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)


def _parse_time(value: time | str) -> time:
    return value if isinstance(value, time) else time.fromisoformat(value)


def _parse_date(value: date | str) -> date:
    # datetime is a date subclass; a timestamp here would silently compare unequal to dates.
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(value)


def _format_time(value: time) -> str:
    return value.isoformat(
        timespec="minutes" if not value.second and not value.microsecond else "auto"
    )


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """Working days and hours in one time zone, with holidays."""

    timezone: str = "America/New_York"  # IANA name; working hours are local wall-clock times
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # date.weekday(): Monday is 0
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        # Stored policies arrive as lists; accept them so callers need not convert.
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        object.__setattr__(self, "holidays", frozenset(_parse_date(d) for d in self.holidays))
        # Fail on an unknown zone here rather than in the middle of a calculation.
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        if not self.workdays or not self.workdays <= frozenset(range(7)):
            raise ValueError(f"workdays must be a non-empty set of 0..6, got {set(self.workdays)}")
        if self.day_start.tzinfo is not None or self.day_end.tzinfo is not None:
            raise ValueError("day_start and day_end are local wall-clock times without a zone")
        # A zero-length or overnight day would leave no working time to count.
        if not self.day_start < self.day_end:
            raise ValueError("day_start must be earlier than day_end")

    @property
    def tz(self) -> ZoneInfo:
        """Return the calendar's time zone."""
        return ZoneInfo(self.timezone)  # ZoneInfo caches instances per key

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BusinessCalendar":
        """Build a calendar from its JSON form; missing keys take the defaults."""
        defaults = cls()
        return cls(
            timezone=str(data.get("timezone", defaults.timezone)),
            workdays=frozenset(int(d) for d in data.get("workdays", defaults.workdays)),
            day_start=_parse_time(data.get("day_start", defaults.day_start)),
            day_end=_parse_time(data.get("day_end", defaults.day_end)),
            holidays=frozenset(_parse_date(d) for d in data.get("holidays", ())),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form, with sorted lists so equal calendars serialise equally."""
        return {
            "timezone": self.timezone,
            "workdays": sorted(self.workdays),
            "day_start": _format_time(self.day_start),
            "day_end": _format_time(self.day_end),
            "holidays": [d.isoformat() for d in sorted(self.holidays)],
        }

    def with_holidays(self, extra: Iterable[date | str]) -> "BusinessCalendar":
        """Return a copy with more holidays (a district's own on top of the national ones)."""
        return replace(self, holidays=self.holidays | {_parse_date(d) for d in extra})

    def is_working_day(self, day: date) -> bool:
        """Return True when the local date has working hours."""
        return day.weekday() in self.workdays and day not in self.holidays

    def window(self, day: date) -> tuple[datetime, datetime] | None:
        """Return the working hours of a local date as aware UTC bounds, or None if closed."""
        if not self.is_working_day(day):
            return None
        tz = self.tz
        opens = _first_reached(datetime.combine(day, self.day_start), tz)
        closes = _first_reached(datetime.combine(day, self.day_end), tz)
        return (opens, closes) if opens < closes else None


def _first_reached(wall: datetime, tz: ZoneInfo) -> datetime:
    """Return the first UTC instant at which the local clock shows wall or later.

    A window spanning a DST change therefore holds the hours that really elapse: a time
    repeated by fall-back is reached at its first occurrence, and a time skipped by
    spring-forward is reached at the instant of the change.
    """
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == wall:
        return first
    # wall lies in a spring-forward gap. fold=0 reads it with the offset from before the change,
    # which lands after the change; fold=1 with the offset from after, which lands before it.
    # The change lies between the two; narrow down to the microsecond (rare, ~32 steps).
    lo = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = first
    resolution = timedelta(microseconds=1)
    while hi - lo > resolution:
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return hi


def _as_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


def _local_date(moment_utc: datetime, cal: BusinessCalendar) -> date:
    return moment_utc.astimezone(cal.tz).date()


def add_business_hours(start: datetime, hours: float, cal: BusinessCalendar) -> datetime:
    """Return the aware UTC instant that lies the given business hours after start.

    Time outside working hours does not count, so a start outside them counts from the next
    opening. Zero hours returns start itself; negative hours count backwards.
    """
    cursor = _as_utc(start, "start")
    if not math.isfinite(hours):
        raise ValueError(f"hours must be a finite number, got {hours!r}")
    if hours == 0:
        return cursor
    backwards = hours < 0
    # Whole microseconds keep the arithmetic exact however many days it spans.
    remaining = timedelta(hours=abs(hours))
    day = _local_date(cursor, cal)
    step = -_ONE_DAY if backwards else _ONE_DAY
    # One iteration per calendar day, each O(1): a year of SLA time is a few hundred steps.
    while True:
        bounds = cal.window(day)
        if bounds is not None:
            opens, closes = bounds
            if backwards:
                available = min(closes, cursor) - opens
                if available > _ZERO:
                    if remaining <= available:
                        return min(closes, cursor) - remaining
                    remaining -= available
            else:
                available = closes - max(opens, cursor)
                if available > _ZERO:
                    if remaining <= available:
                        return max(opens, cursor) + remaining
                    remaining -= available
        day += step


def business_hours_between(a: datetime, b: datetime, cal: BusinessCalendar) -> float:
    """Return the business hours from a to b; negative when b is before a."""
    start, end = _as_utc(a, "a"), _as_utc(b, "b")
    if end < start:
        return -business_hours_between(b, a, cal)
    total = _ZERO
    day, last = _local_date(start, cal), _local_date(end, cal)
    while day <= last:
        bounds = cal.window(day)
        if bounds is not None:
            overlap = min(bounds[1], end) - max(bounds[0], start)
            if overlap > _ZERO:
                total += overlap
        day += _ONE_DAY
    return total / timedelta(hours=1)


def _level_hours(raw: Mapping[Any, float], name: str) -> Mapping[int, float]:
    # JSON object keys are strings ("1"); levels are ints everywhere else.
    hours = {check_level(int(k)): float(v) for k, v in raw.items()}
    missing = [lvl for lvl in LEVELS if lvl not in hours]
    if missing:
        raise ValueError(f"{name} has no SLA for level(s) {missing}")
    if any(not math.isfinite(h) or h < 0 for h in hours.values()):
        raise ValueError(f"{name} must hold finite, non-negative hours")
    return MappingProxyType(hours)


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Business hours allowed at each level, by ticket type, and the warning lead time."""

    conflict_hours: Mapping[int, float] = field(
        default_factory=lambda: MappingProxyType({1: 16.0, 2: 16.0, 3: 24.0})
    )
    exception_hours: Mapping[int, float] = field(
        default_factory=lambda: MappingProxyType({1: 8.0, 2: 8.0, 3: 16.0})
    )
    warn_before_hours: float = 4.0

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "conflict_hours", _level_hours(self.conflict_hours, "conflict_hours")
        )
        object.__setattr__(
            self, "exception_hours", _level_hours(self.exception_hours, "exception_hours")
        )
        if not math.isfinite(self.warn_before_hours) or self.warn_before_hours < 0:
            raise ValueError("warn_before_hours must be a finite, non-negative number")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SlaPolicy":
        """Build from the policy JSON keys sla_hours, exception_sla_hours, sla_warning_hours."""
        defaults = cls()
        return cls(
            conflict_hours=data.get("sla_hours", defaults.conflict_hours),
            exception_hours=data.get("exception_sla_hours", defaults.exception_hours),
            warn_before_hours=float(data.get("sla_warning_hours", defaults.warn_before_hours)),
        )

    def hours_for(self, level: int, ticket_type: TicketType | str) -> float:
        """Return the business hours a ticket of this type gets at this level."""
        table = (
            self.exception_hours
            if TicketType(ticket_type) is TicketType.EXCEPTION
            else self.conflict_hours
        )
        return table[check_level(level)]


def due_at(
    opened_at: datetime,
    level: int,
    ticket_type: TicketType | str,
    sla_policy: SlaPolicy,
    cal: BusinessCalendar,
) -> datetime:
    """Return when the SLA of a level runs out, counted from when the ticket reached it."""
    return add_business_hours(opened_at, sla_policy.hours_for(level, ticket_type), cal)


class SlaState(StrEnum):
    """How a ticket stands against its SLA."""

    ON_TRACK = "on_track"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"


def sla_state(
    now: datetime | None,
    due_at: datetime,
    sla_policy: SlaPolicy,
    cal: BusinessCalendar,
) -> SlaState:
    """Return the SLA state at now (None: the current time).

    A ticket is overdue once its due time is reached, and due soon while fewer than
    warn_before_hours business hours remain.
    """
    current = datetime.now(UTC) if now is None else _as_utc(now, "now")
    due = _as_utc(due_at, "due_at")
    if current >= due:
        return SlaState.OVERDUE
    if business_hours_between(current, due, cal) < sla_policy.warn_before_hours:
        return SlaState.DUE_SOON
    return SlaState.ON_TRACK


def escalation_stages(
    opened_at: datetime,
    level: int,
    ticket_type: TicketType | str,
    sla_policy: SlaPolicy,
    cal: BusinessCalendar,
) -> list[tuple[int, datetime]]:
    """Return the projected due time of the current level and each level above it.

    Each later stage is assumed to start when the one before runs out its full SLA.
    """
    stages: list[tuple[int, datetime]] = []
    stage_start = opened_at
    for stage_level in range(check_level(level), LEVELS[-1] + 1):
        stage_due = due_at(stage_start, stage_level, ticket_type, sla_policy, cal)
        stages.append((stage_level, stage_due))
        stage_start = stage_due
    return stages
