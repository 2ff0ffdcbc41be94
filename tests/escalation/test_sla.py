"""Business-time SLA arithmetic: calendars, weekends, holidays, time zones and DST."""

import json
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from escalation.sla import (
    BusinessCalendar,
    SlaPolicy,
    SlaState,
    add_business_hours,
    business_hours_between,
    due_at,
    escalation_stages,
    sla_state,
)
from escalation.states import TicketType

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")

US_HOLIDAYS = frozenset(
    {date(2026, 1, 1), date(2026, 11, 26), date(2026, 11, 27), date(2026, 12, 25)}
)
NY_CAL = BusinessCalendar("America/New_York", holidays=US_HOLIDAYS)
BERLIN_CAL = BusinessCalendar("Europe/Berlin")
# Working hours that contain the DST change itself (02:00 local in both directions).
NIGHT_CAL = BusinessCalendar(
    "America/New_York", workdays=frozenset(range(7)), day_start=time(0), day_end=time(4)
)
# Opening and closing times that spring-forward skips in New York (02:00-03:00 on 2026-03-08).
OPENS_IN_GAP_CAL = BusinessCalendar(
    "America/New_York", workdays=frozenset(range(7)), day_start=time(2, 30), day_end=time(4)
)
CLOSES_IN_GAP_CAL = BusinessCalendar(
    "America/New_York", workdays=frozenset(range(7)), day_start=time(1), day_end=time(2, 30)
)
# Half-hour offset zone, Sunday-to-Thursday week and uneven hours.
KOLKATA_CAL = BusinessCalendar(
    "Asia/Kolkata",
    workdays=frozenset({6, 0, 1, 2, 3}),
    day_start=time(9, 30),
    day_end=time(18, 15),
    holidays=frozenset({date(2026, 1, 26), date(2026, 8, 15)}),
)

# Zones where the working day straddles midnight UTC, so the local date and the UTC date differ.
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
SYDNEY = ZoneInfo("Australia/Sydney")
LA_CAL = BusinessCalendar("America/Los_Angeles")
SYDNEY_CAL = BusinessCalendar("Australia/Sydney", holidays=frozenset({date(2026, 1, 26)}))


def ny(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    """Return a New York wall-clock time."""
    return datetime(y, m, d, h, mi, s, tzinfo=NY)


def utc(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """Return a UTC time."""
    return datetime(y, m, d, h, mi, tzinfo=UTC)


# --- add_business_hours --------------------------------------------------------------------

# 2026-02-06 is a Friday; 2026-02-09 a Monday.
ADD_CASES = [
    pytest.param(ny(2026, 2, 6, 16), 2, ny(2026, 2, 9, 10), id="friday-16h-plus-2-is-monday-10h"),
    pytest.param(ny(2026, 2, 9, 10), 3, ny(2026, 2, 9, 13), id="within-one-day"),
    pytest.param(ny(2026, 2, 9, 16), 1, ny(2026, 2, 9, 17), id="ends-exactly-at-closing"),
    pytest.param(ny(2026, 2, 9, 17), 8, ny(2026, 2, 10, 17), id="start-at-closing"),
    pytest.param(ny(2026, 2, 9, 20), 1, ny(2026, 2, 10, 10), id="start-at-20h"),
    pytest.param(ny(2026, 2, 10, 7), 1, ny(2026, 2, 10, 10), id="start-before-opening"),
    pytest.param(ny(2026, 2, 7, 12), 1, ny(2026, 2, 9, 10), id="start-on-saturday"),
    pytest.param(ny(2026, 2, 8, 23), 8, ny(2026, 2, 9, 17), id="start-on-sunday-night"),
    pytest.param(ny(2026, 2, 9, 9), 0.5, ny(2026, 2, 9, 9, 30), id="half-hour"),
    pytest.param(ny(2026, 2, 9, 9), 1.25, ny(2026, 2, 9, 10, 15), id="fraction"),
    pytest.param(ny(2026, 2, 9, 9), 16, ny(2026, 2, 10, 17), id="two-full-days"),
    pytest.param(ny(2026, 2, 9, 9), 40, ny(2026, 2, 13, 17), id="full-week"),
    pytest.param(ny(2026, 2, 9, 9), 41, ny(2026, 2, 16, 10), id="week-and-an-hour"),
    pytest.param(ny(2026, 11, 25, 16), 2, ny(2026, 11, 30, 10), id="thanksgiving-holidays"),
    pytest.param(ny(2026, 12, 25, 10), 1, ny(2026, 12, 28, 10), id="start-on-a-holiday"),
    pytest.param(ny(2025, 12, 31, 16, 30), 1, ny(2026, 1, 2, 9, 30), id="new-years-day"),
]


@pytest.mark.parametrize(("start", "hours", "expected"), ADD_CASES)
def test_add_business_hours(start: datetime, hours: float, expected: datetime) -> None:
    result = add_business_hours(start, hours, NY_CAL)
    assert result == expected
    assert result.tzinfo is UTC


# Each case pins the UTC instant, which is where a wrong DST offset would show.
DST_CASES = [
    pytest.param(NY_CAL, ny(2026, 3, 6, 16), 2, utc(2026, 3, 9, 14), id="new-york-spring-forward"),
    pytest.param(NY_CAL, ny(2026, 3, 6, 9), 16, utc(2026, 3, 9, 21), id="new-york-spring-16h"),
    pytest.param(NY_CAL, ny(2026, 10, 30, 16), 2, utc(2026, 11, 2, 15), id="new-york-fall-back"),
    pytest.param(
        BERLIN_CAL,
        datetime(2026, 3, 27, 16, tzinfo=BERLIN),
        2,
        utc(2026, 3, 30, 8),
        id="berlin-spring-forward",
    ),
    pytest.param(
        BERLIN_CAL,
        datetime(2026, 10, 23, 16, tzinfo=BERLIN),
        2,
        utc(2026, 10, 26, 9),
        id="berlin-fall-back",
    ),
]


@pytest.mark.parametrize(("cal", "start", "hours", "expected_utc"), DST_CASES)
def test_add_business_hours_across_dst(
    cal: BusinessCalendar, start: datetime, hours: float, expected_utc: datetime
) -> None:
    result = add_business_hours(start, hours, cal)
    assert result == expected_utc
    assert result.tzinfo is UTC
    assert business_hours_between(start, result, cal) == hours


def test_dst_shifts_the_utc_time_of_opening() -> None:
    # 10:00 local is 15:00 UTC before the change and 14:00 UTC after it.
    assert add_business_hours(ny(2026, 3, 2, 9), 1, NY_CAL) == utc(2026, 3, 2, 15)
    assert add_business_hours(ny(2026, 3, 9, 9), 1, NY_CAL) == utc(2026, 3, 9, 14)


def test_working_hours_spanning_spring_forward_hold_the_hours_that_elapse() -> None:
    # 00:00-04:00 on 2026-03-08 skips 02:00-03:00, so only three hours really pass.
    start = ny(2026, 3, 8, 0)
    assert add_business_hours(start, 3, NIGHT_CAL) == ny(2026, 3, 8, 4)
    assert add_business_hours(start, 3.5, NIGHT_CAL) == ny(2026, 3, 9, 0, 30)
    assert business_hours_between(start, ny(2026, 3, 8, 4), NIGHT_CAL) == 3


def test_working_hours_spanning_fall_back_hold_the_hours_that_elapse() -> None:
    # 00:00-04:00 on 2026-11-01 repeats 01:00-02:00, so five hours really pass.
    start = ny(2026, 11, 1, 0)
    assert business_hours_between(start, ny(2026, 11, 1, 4), NIGHT_CAL) == 5
    assert add_business_hours(start, 5, NIGHT_CAL) == utc(2026, 11, 1, 9)
    assert add_business_hours(start, 5.5, NIGHT_CAL) == ny(2026, 11, 2, 0, 30)


def test_a_skipped_opening_time_is_reached_at_the_change() -> None:
    # Clocks jump from 01:59:59 EST to 03:00 EDT, which is the first moment they show 02:30 or
    # later: the day opens then and holds one hour, not the usual one and a half.
    assert OPENS_IN_GAP_CAL.window(date(2026, 3, 7)) == (utc(2026, 3, 7, 7, 30), utc(2026, 3, 7, 9))
    assert OPENS_IN_GAP_CAL.window(date(2026, 3, 8)) == (utc(2026, 3, 8, 7), utc(2026, 3, 8, 8))
    assert business_hours_between(ny(2026, 3, 8), ny(2026, 3, 8, 5), OPENS_IN_GAP_CAL) == 1
    assert add_business_hours(ny(2026, 3, 8), 0.25, OPENS_IN_GAP_CAL) == ny(2026, 3, 8, 3, 15)


def test_a_skipped_closing_time_is_reached_at_the_change() -> None:
    assert CLOSES_IN_GAP_CAL.window(date(2026, 3, 8)) == (utc(2026, 3, 8, 6), utc(2026, 3, 8, 7))
    assert add_business_hours(ny(2026, 3, 8, 1), 1.25, CLOSES_IN_GAP_CAL) == ny(2026, 3, 9, 1, 15)


@pytest.mark.parametrize(
    "start",
    [
        utc(2026, 2, 6, 21),
        datetime(2026, 2, 7, 6, tzinfo=ZoneInfo("Asia/Tokyo")),
        datetime(2026, 2, 6, 13, tzinfo=ZoneInfo("America/Los_Angeles")),
        datetime(2026, 2, 6, 21, tzinfo=UTC).astimezone(BERLIN),
    ],
    ids=["utc", "tokyo", "los-angeles", "berlin"],
)
def test_start_may_be_in_any_zone(start: datetime) -> None:
    # Every one of these is Friday 16:00 in New York.
    assert add_business_hours(start, 2, NY_CAL) == ny(2026, 2, 9, 10)


@pytest.mark.parametrize(
    ("start", "hours", "expected"),
    [
        pytest.param(ny(2026, 2, 9, 10), -2, ny(2026, 2, 6, 16), id="monday-back-to-friday"),
        pytest.param(ny(2026, 2, 9, 9), -1, ny(2026, 2, 6, 16), id="from-opening"),
        pytest.param(ny(2026, 2, 7, 12), -1, ny(2026, 2, 6, 16), id="from-saturday"),
        pytest.param(ny(2026, 2, 9, 12), -0.5, ny(2026, 2, 9, 11, 30), id="same-day"),
        pytest.param(ny(2026, 11, 30, 10), -2, ny(2026, 11, 25, 16), id="over-holidays"),
    ],
)
def test_negative_hours_count_backwards(start: datetime, hours: float, expected: datetime) -> None:
    assert add_business_hours(start, hours, NY_CAL) == expected


def test_zero_hours_is_the_start_itself_even_outside_hours() -> None:
    saturday = ny(2026, 2, 7, 12)
    result = add_business_hours(saturday, 0, NY_CAL)
    assert result == saturday
    assert result.tzinfo is UTC


def test_naive_start_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_hours(datetime(2026, 2, 9, 9), 1, NY_CAL)


@pytest.mark.parametrize("hours", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_hours_are_refused(hours: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        add_business_hours(ny(2026, 2, 9, 9), hours, NY_CAL)


def test_thousands_of_hours() -> None:
    # 8,000 business hours is 1,000 working days. From Monday 2026-01-05 that takes 1,003
    # weekdays (three 2026 holidays fall in between): 200 whole weeks to Monday 2029-11-05,
    # then Monday to Wednesday.
    start = ny(2026, 1, 5, 9)
    result = add_business_hours(start, 8000, NY_CAL)
    assert result == ny(2029, 11, 7, 17)
    assert business_hours_between(start, result, NY_CAL) == 8000


# --- business_hours_between ----------------------------------------------------------------

BETWEEN_CASES = [
    pytest.param(ny(2026, 2, 9, 10), ny(2026, 2, 9, 12, 30), 2.5, id="same-day"),
    pytest.param(ny(2026, 2, 6, 16), ny(2026, 2, 9, 10), 2, id="over-a-weekend"),
    pytest.param(ny(2026, 2, 7, 10), ny(2026, 2, 8, 18), 0, id="weekend-only"),
    pytest.param(ny(2026, 2, 9, 20), ny(2026, 2, 10, 8), 0, id="overnight"),
    pytest.param(ny(2026, 11, 25, 9), ny(2026, 11, 30, 9), 8, id="thanksgiving"),
    pytest.param(ny(2026, 2, 9, 0), ny(2026, 2, 16, 0), 40, id="a-week"),
    pytest.param(ny(2026, 2, 9, 11), ny(2026, 2, 9, 11), 0, id="same-instant"),
    pytest.param(ny(2026, 2, 9, 12), ny(2026, 2, 9, 10), -2, id="backwards-is-negative"),
    pytest.param(ny(2026, 2, 9, 10), ny(2026, 2, 6, 16), -2, id="backwards-over-weekend"),
    pytest.param(utc(2026, 2, 9, 15), ny(2026, 2, 9, 12), 2, id="mixed-zones"),
]


@pytest.mark.parametrize(("a", "b", "expected"), BETWEEN_CASES)
def test_business_hours_between(a: datetime, b: datetime, expected: float) -> None:
    assert business_hours_between(a, b, NY_CAL) == expected


def test_between_refuses_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        business_hours_between(ny(2026, 2, 9, 9), datetime(2026, 2, 9, 12), NY_CAL)


def test_other_calendars() -> None:
    # Kolkata: Sunday to Thursday, 09:30-18:15 (8.75 h); Thursday 18:00 + 1 h is Sunday 10:15.
    start = datetime(2026, 2, 5, 18, tzinfo=KOLKATA)
    assert add_business_hours(start, 1, KOLKATA_CAL) == datetime(2026, 2, 8, 10, 15, tzinfo=KOLKATA)
    monday = datetime(2026, 1, 26, 9, 30, tzinfo=KOLKATA)  # Republic Day, a holiday
    assert business_hours_between(monday, monday + timedelta(days=1), KOLKATA_CAL) == 0


@pytest.mark.parametrize(
    ("cal", "start", "hours", "expected"),
    [
        pytest.param(
            LA_CAL,
            datetime(2026, 2, 9, 16, 30, tzinfo=LOS_ANGELES),  # 00:30 UTC on the 10th
            1,
            datetime(2026, 2, 10, 9, 30, tzinfo=LOS_ANGELES),
            id="los-angeles-late-afternoon",
        ),
        pytest.param(
            LA_CAL,
            datetime(2026, 2, 9, 16, 30, tzinfo=LOS_ANGELES),
            -1,
            datetime(2026, 2, 9, 15, 30, tzinfo=LOS_ANGELES),
            id="los-angeles-backwards",
        ),
        pytest.param(
            SYDNEY_CAL,
            datetime(2026, 2, 10, 10, tzinfo=SYDNEY),  # 23:00 UTC on the 9th
            -0.5,
            datetime(2026, 2, 10, 9, 30, tzinfo=SYDNEY),
            id="sydney-morning-backwards",
        ),
        pytest.param(
            SYDNEY_CAL,
            datetime(2026, 1, 23, 16, tzinfo=SYDNEY),  # Friday before Australia Day Monday
            2,
            datetime(2026, 1, 27, 10, tzinfo=SYDNEY),
            id="sydney-long-weekend",
        ),
    ],
)
def test_local_date_is_the_calendars_not_utcs(
    cal: BusinessCalendar, start: datetime, hours: float, expected: datetime
) -> None:
    assert add_business_hours(start, hours, cal) == expected
    assert business_hours_between(start, expected, cal) == hours


# --- the calendar --------------------------------------------------------------------------


def test_calendar_defaults() -> None:
    cal = BusinessCalendar()
    assert cal.workdays == frozenset({0, 1, 2, 3, 4})
    assert (cal.day_start, cal.day_end) == (time(9), time(17))
    assert cal.holidays == frozenset()


def test_calendar_reads_the_policy_json() -> None:
    stored = {
        "timezone": "Europe/Berlin",
        "workdays": [0, 1, 2, 3],
        "day_start": "08:30",
        "day_end": "16:45",
        "holidays": ["2026-12-24", "2026-12-25"],
    }
    cal = BusinessCalendar.from_dict(stored)
    assert cal == BusinessCalendar(
        "Europe/Berlin",
        workdays=frozenset({0, 1, 2, 3}),
        day_start=time(8, 30),
        day_end=time(16, 45),
        holidays=frozenset({date(2026, 12, 24), date(2026, 12, 25)}),
    )
    assert cal.to_dict() == stored


@pytest.mark.parametrize(
    "cal",
    [
        NY_CAL,
        BERLIN_CAL,
        NIGHT_CAL,
        KOLKATA_CAL,
        SYDNEY_CAL,
        BusinessCalendar(day_end=time(17, 30, 15)),
    ],
    ids=["ny", "berlin", "night", "kolkata", "sydney", "seconds"],
)
def test_calendar_round_trips_through_json(cal: BusinessCalendar) -> None:
    assert BusinessCalendar.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal


def test_calendar_from_empty_dict_is_the_default() -> None:
    assert BusinessCalendar.from_dict({}) == BusinessCalendar()


def test_calendar_accepts_lists() -> None:
    cal = BusinessCalendar(workdays=[0, 1], holidays=["2026-01-01"])  # type: ignore[arg-type]
    assert cal.workdays == frozenset({0, 1})
    assert cal.holidays == frozenset({date(2026, 1, 1)})
    assert hash(cal) == hash(BusinessCalendar(workdays=frozenset({0, 1}), holidays=cal.holidays))


def test_with_holidays_adds_a_districts_own_days() -> None:
    cal = NY_CAL.with_holidays(["2026-02-09"])
    assert date(2026, 2, 9) in cal.holidays
    assert cal.holidays >= US_HOLIDAYS
    assert add_business_hours(ny(2026, 2, 6, 16), 2, cal) == ny(2026, 2, 10, 10)
    assert date(2026, 2, 9) not in NY_CAL.holidays


def test_window() -> None:
    assert NY_CAL.window(date(2026, 2, 7)) is None  # Saturday
    assert NY_CAL.window(date(2026, 12, 25)) is None  # holiday
    assert NY_CAL.window(date(2026, 3, 9)) == (utc(2026, 3, 9, 13), utc(2026, 3, 9, 21))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workdays": frozenset()}, "workdays"),
        ({"workdays": frozenset({5, 7})}, "workdays"),
        ({"day_start": time(17), "day_end": time(9)}, "earlier"),
        ({"day_start": time(9), "day_end": time(9)}, "earlier"),
        ({"day_start": time(9, tzinfo=UTC)}, "wall-clock"),
        ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone"),
        ({"timezone": "../etc/passwd"}, "unknown time zone"),
    ],
)
def test_calendar_rejects_nonsense(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


# --- SLA policy and due times --------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = SlaPolicy()
    assert dict(policy.conflict_hours) == {1: 16, 2: 16, 3: 24}
    assert dict(policy.exception_hours) == {1: 8, 2: 8, 3: 16}
    assert policy.warn_before_hours == 4


def test_policy_reads_the_policy_json() -> None:
    policy = SlaPolicy.from_dict(
        {
            "sla_hours": {"1": 10, "2": 12, "3": 20},
            "exception_sla_hours": {"1": 4, "2": 6, "3": 8.5},
            "sla_warning_hours": 2,
            "pc_threshold": 4000,
        }
    )
    assert policy == SlaPolicy({1: 10, 2: 12, 3: 20}, {1: 4, 2: 6, 3: 8.5}, 2)
    assert policy.hours_for(3, "exception") == 8.5
    assert SlaPolicy.from_dict({}) == SlaPolicy()


def test_policy_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        SlaPolicy().conflict_hours[1] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"conflict_hours": {1: 16, 2: 16}}, "no SLA for level"),
        ({"exception_hours": {1: 8, 2: 8, 3: -1}}, "non-negative"),
        ({"conflict_hours": {1: 16, 2: 16, 3: 24, 4: 8}}, "unknown escalation level"),
        ({"warn_before_hours": -1}, "warn_before_hours"),
        ({"warn_before_hours": float("nan")}, "warn_before_hours"),
    ],
)
def test_policy_rejects_nonsense(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SlaPolicy(**kwargs)  # type: ignore[arg-type]


MONDAY_9 = ny(2026, 2, 9, 9)


@pytest.mark.parametrize(
    ("level", "ticket_type", "expected"),
    [
        (1, TicketType.CONFLICT, ny(2026, 2, 10, 17)),  # 16 h
        (2, "conflict", ny(2026, 2, 10, 17)),  # 16 h
        (3, "conflict", ny(2026, 2, 11, 17)),  # 24 h
        (1, TicketType.EXCEPTION, ny(2026, 2, 9, 17)),  # 8 h
        (2, "exception", ny(2026, 2, 9, 17)),  # 8 h
        (3, "exception", ny(2026, 2, 10, 17)),  # 16 h
    ],
)
def test_due_at(level: int, ticket_type: str, expected: datetime) -> None:
    assert due_at(MONDAY_9, level, ticket_type, SlaPolicy(), NY_CAL) == expected


@pytest.mark.parametrize(("level", "ticket_type"), [(0, "conflict"), (4, "conflict"), (1, "x")])
def test_due_at_rejects_unknown_level_or_type(level: int, ticket_type: str) -> None:
    with pytest.raises(ValueError):
        due_at(MONDAY_9, level, ticket_type, SlaPolicy(), NY_CAL)


def test_escalation_stages_from_level_one() -> None:
    # Friday 16:00 before the DST change: 16 h, then 16 h, then 24 h, each chained.
    stages = escalation_stages(ny(2026, 3, 6, 16), 1, "conflict", SlaPolicy(), NY_CAL)
    assert stages == [
        (1, ny(2026, 3, 10, 16)),
        (2, ny(2026, 3, 12, 16)),
        (3, ny(2026, 3, 17, 16)),
    ]


def test_escalation_stages_from_a_higher_level() -> None:
    assert escalation_stages(MONDAY_9, 2, "exception", SlaPolicy(), NY_CAL) == [
        (2, ny(2026, 2, 9, 17)),
        (3, ny(2026, 2, 11, 17)),
    ]
    assert escalation_stages(MONDAY_9, 3, "conflict", SlaPolicy(), NY_CAL) == [
        (3, ny(2026, 2, 11, 17))
    ]


def test_escalation_stage_one_is_the_tickets_due_time() -> None:
    opened = ny(2026, 11, 24, 15, 20)
    stages = escalation_stages(opened, 1, "exception", SlaPolicy(), NY_CAL)
    assert stages[0] == (1, due_at(opened, 1, "exception", SlaPolicy(), NY_CAL))
    assert [lvl for lvl, _ in stages] == [1, 2, 3]
    assert all(a[1] < b[1] for a, b in pairwise(stages))


# --- SLA state -----------------------------------------------------------------------------

DUE = ny(2026, 2, 9, 12)  # Monday noon

SLA_STATE_CASES = [
    pytest.param(ny(2026, 2, 6, 12), SlaState.ON_TRACK, id="friday-noon-8h-left"),
    pytest.param(ny(2026, 2, 6, 16), SlaState.ON_TRACK, id="exactly-4h-left"),
    pytest.param(ny(2026, 2, 6, 16, 1), SlaState.DUE_SOON, id="just-under-4h-left"),
    pytest.param(ny(2026, 2, 7, 12), SlaState.DUE_SOON, id="saturday-3h-left"),
    pytest.param(ny(2026, 2, 9, 7), SlaState.DUE_SOON, id="before-opening"),
    pytest.param(ny(2026, 2, 9, 12), SlaState.OVERDUE, id="at-the-due-time"),
    pytest.param(ny(2026, 2, 9, 12, 0, 1), SlaState.OVERDUE, id="a-second-late"),
    pytest.param(ny(2026, 2, 14, 12), SlaState.OVERDUE, id="days-late"),
]


@pytest.mark.parametrize(("now", "expected"), SLA_STATE_CASES)
def test_sla_state(now: datetime, expected: SlaState) -> None:
    assert sla_state(now, DUE, SlaPolicy(), NY_CAL) is expected


def test_no_warning_window() -> None:
    policy = SlaPolicy(warn_before_hours=0)
    assert sla_state(ny(2026, 2, 9, 11, 59), DUE, policy, NY_CAL) is SlaState.ON_TRACK


@pytest.mark.parametrize(
    ("frozen", "expected"),
    [
        (ny(2026, 2, 6, 12), SlaState.ON_TRACK),
        (ny(2026, 2, 6, 16, 30), SlaState.DUE_SOON),
        (ny(2026, 2, 9, 13), SlaState.OVERDUE),
    ],
)
def test_sla_state_reads_the_clock_when_now_is_none(frozen: datetime, expected: SlaState) -> None:
    with time_machine.travel(frozen, tick=False):
        assert sla_state(None, DUE, SlaPolicy(), NY_CAL) is expected


def test_sla_state_refuses_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sla_state(datetime(2026, 2, 9, 9), DUE, SlaPolicy(), NY_CAL)


# --- properties ----------------------------------------------------------------------------

CALENDARS = st.sampled_from(
    [
        NY_CAL,
        BERLIN_CAL,
        NIGHT_CAL,
        OPENS_IN_GAP_CAL,
        CLOSES_IN_GAP_CAL,
        KOLKATA_CAL,
        LA_CAL,
        SYDNEY_CAL,
    ]
)
MOMENTS = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2028, 12, 31),
    timezones=st.sampled_from([UTC, NY, BERLIN, KOLKATA, LOS_ANGELES, SYDNEY]),
)
HOURS = st.floats(min_value=0, max_value=3000, allow_nan=False, allow_infinity=False)
TOLERANCE = 1e-6  # hours; sub-microsecond rounding is the only error allowed


@settings(max_examples=300)
@given(cal=CALENDARS, start=MOMENTS, hours=HOURS)
def test_adding_then_measuring_gives_back_the_hours(
    cal: BusinessCalendar, start: datetime, hours: float
) -> None:
    end = add_business_hours(start, hours, cal)
    assert end >= start
    assert business_hours_between(start, end, cal) == pytest.approx(hours, abs=TOLERANCE)


@given(cal=CALENDARS, start=MOMENTS, hours=HOURS)
def test_subtracting_then_measuring_gives_back_the_hours(
    cal: BusinessCalendar, start: datetime, hours: float
) -> None:
    earlier = add_business_hours(start, -hours, cal)
    assert earlier <= start
    assert business_hours_between(earlier, start, cal) == pytest.approx(hours, abs=TOLERANCE)


@given(cal=CALENDARS, start=MOMENTS, h1=HOURS, h2=HOURS)
def test_more_hours_never_end_earlier(
    cal: BusinessCalendar, start: datetime, h1: float, h2: float
) -> None:
    low, high = sorted((h1, h2))
    assert add_business_hours(start, low, cal) <= add_business_hours(start, high, cal)


@given(cal=CALENDARS, a=MOMENTS, b=MOMENTS, hours=HOURS)
def test_a_later_start_never_ends_earlier(
    cal: BusinessCalendar, a: datetime, b: datetime, hours: float
) -> None:
    # Compare as UTC: datetimes sharing a tzinfo compare by wall clock, ignoring fold.
    early, late = sorted((a.astimezone(UTC), b.astimezone(UTC)))
    assert add_business_hours(early, hours, cal) <= add_business_hours(late, hours, cal)


@given(cal=CALENDARS, a=MOMENTS, b=MOMENTS, c=MOMENTS)
def test_between_is_additive_and_antisymmetric(
    cal: BusinessCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    ab = business_hours_between(a, b, cal)
    assert business_hours_between(b, a, cal) == -ab
    total = ab + business_hours_between(b, c, cal)
    assert business_hours_between(a, c, cal) == pytest.approx(total, abs=TOLERANCE)
