"""Choosing ticket owners: territory, level, load, Gold coordinators and fallback."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalation.routing import (
    Reviewer,
    balance,
    escalation_owner,
    pick_owner,
    place_pool,
    spread,
)


def r(
    user_id: int,
    level: int,
    districts: tuple[str, ...] = (),
    region: str | None = None,
    open_count: int = 0,
    active: bool = True,
) -> Reviewer:
    """Return a reviewer."""
    return Reviewer(user_id, level, frozenset(districts), region, open_count, active)


# Districts NE1 and NE2 make up region NE; SW1 is in region SW.
TEAM = [
    r(10, 1, ("NE1",), open_count=3),
    r(11, 1, ("NE1", "NE2"), open_count=1),
    r(12, 1, ("NE1",), open_count=1),
    r(13, 1, ("NE1",), open_count=0, active=False),
    r(14, 1, ("SW1",), open_count=7),
    r(20, 2, region="NE", open_count=2),
    r(21, 2, districts=("NE1", "NE2"), open_count=1),
    r(22, 2, region="SW", open_count=0),
    r(30, 3, open_count=4),
    r(31, 3, open_count=4),
]


@pytest.mark.parametrize(
    ("level", "district", "region", "expected"),
    [
        pytest.param(1, "NE1", "NE", 11, id="least-loaded-then-lowest-id"),
        pytest.param(1, "NE2", "NE", 11, id="only-cover-of-the-district"),
        pytest.param(1, "SW1", "SW", 14, id="busy-but-the-only-one"),
        pytest.param(2, "NE1", "NE", 21, id="regional-by-district-list"),
        pytest.param(2, "NE3", "NE", 20, id="regional-by-region"),
        pytest.param(2, "SW1", "SW", 22, id="other-region"),
        pytest.param(3, "NE1", "NE", 30, id="national-tie-lowest-id"),
        pytest.param(3, None, None, 30, id="national-needs-no-place"),
    ],
)
def test_pick_owner(level: int, district: str | None, region: str | None, expected: int) -> None:
    assert pick_owner(TEAM, level=level, district=district, region=region) == expected


def test_ties_go_to_the_lowest_user_id_whatever_the_order() -> None:
    team = [r(7, 1, ("D",)), r(3, 1, ("D",)), r(5, 1, ("D",))]
    assert pick_owner(team, level=1, district="D", region=None) == 3
    assert pick_owner(reversed(team), level=1, district="D", region=None) == 3


def test_least_open_work_beats_a_lower_id() -> None:
    team = [r(1, 1, ("D",), open_count=2), r(2, 1, ("D",), open_count=1)]
    assert pick_owner(team, level=1, district="D", region=None) == 2


def test_inactive_reviewers_are_skipped_even_when_idle() -> None:
    team = [r(1, 1, ("D",), open_count=0, active=False), r(2, 1, ("D",), open_count=9)]
    assert pick_owner(team, level=1, district="D", region=None) == 2


def test_reviewers_of_other_levels_do_not_take_level_one_work_when_it_is_covered() -> None:
    team = [r(1, 3, open_count=0), r(2, 2, region="R"), r(9, 1, ("D",), open_count=50)]
    assert pick_owner(team, level=1, district="D", region="R") == 9


def test_lower_levels_never_take_higher_level_work() -> None:
    team = [r(1, 1, ("D",)), r(2, 2, region="R", active=False)]
    assert pick_owner(team, level=2, district="D", region="R") is None


class TestGoldCoordinator:
    def test_active_coordinator_owns_the_ticket_however_busy(self) -> None:
        team = [*TEAM, r(40, 1, ("SW1",), open_count=99)]
        assert pick_owner(team, level=1, district="NE1", region="NE", gold_coordinator_id=40) == 40

    def test_coordinator_owns_it_at_any_level(self) -> None:
        assert pick_owner(TEAM, level=3, district="NE1", region="NE", gold_coordinator_id=14) == 14

    def test_inactive_coordinator_falls_back_to_normal_routing(self) -> None:
        assert pick_owner(TEAM, level=1, district="NE1", region="NE", gold_coordinator_id=13) == 11

    def test_unknown_coordinator_falls_back_to_normal_routing(self) -> None:
        assert pick_owner(TEAM, level=1, district="NE1", region="NE", gold_coordinator_id=999) == 11


class TestFallback:
    def test_district_without_reviewers_goes_to_the_region(self) -> None:
        assert pick_owner(TEAM, level=1, district="NE3", region="NE") == 20

    def test_district_and_region_without_reviewers_go_national(self) -> None:
        assert pick_owner(TEAM, level=1, district="XX1", region="XX") == 30

    def test_region_without_reviewers_goes_national(self) -> None:
        assert pick_owner(TEAM, level=2, district="XX1", region="XX") == 30

    def test_level_one_without_district_goes_up(self) -> None:
        assert pick_owner(TEAM, level=1, district=None, region="SW") == 22

    def test_inactive_level_counts_as_nobody(self) -> None:
        team = [r(1, 1, ("D",), active=False), r(2, 2, ("D",)), r(3, 3)]
        assert pick_owner(team, level=1, district="D", region=None) == 2

    @pytest.mark.parametrize("level", [1, 2, 3])
    def test_nobody_at_all(self, level: int) -> None:
        team = [r(1, 1, ("D",), active=False), r(2, 3, active=False)]
        assert pick_owner(team, level=level, district="D", region="R") is None
        assert pick_owner([], level=level, district="D", region="R") is None


@pytest.mark.parametrize("level", [0, 4])
def test_unknown_level_is_refused(level: int) -> None:
    with pytest.raises(ValueError, match="unknown escalation level"):
        pick_owner(TEAM, level=level, district="NE1", region="NE")


def test_reviewer_accepts_a_list_of_districts() -> None:
    reviewer = Reviewer(1, 1, ["D1", "D2"])  # type: ignore[arg-type]
    assert reviewer.districts == frozenset({"D1", "D2"})
    hash(reviewer)


def test_reviewer_level_is_checked() -> None:
    with pytest.raises(ValueError, match="unknown escalation level"):
        Reviewer(1, 5)


# --- balance -------------------------------------------------------------------------------


def test_balance_spreads_a_batch_evenly() -> None:
    team = [r(1, 1, ("D",)), r(2, 1, ("D",)), r(3, 1, ("D",))]
    tickets = [(f"t{i}", 1, "D", "R") for i in range(6)]
    assert balance(team, tickets) == {
        "t0": 1,
        "t1": 2,
        "t2": 3,
        "t3": 1,
        "t4": 2,
        "t5": 3,
    }


def test_balance_fills_the_least_loaded_first() -> None:
    team = [
        r(1, 1, ("D",), open_count=3),
        r(2, 1, ("D",), open_count=0),
        r(3, 1, ("D",), open_count=1),
    ]
    result = balance(team, [(n, 1, "D", None) for n in range(100, 106)])
    # Loads 3/0/1 become 3/3/3 after five tickets, then the tie goes to user 1.
    assert result == {100: 2, 101: 2, 102: 3, 103: 2, 104: 3, 105: 1}


def test_balance_keeps_loads_within_one_of_each_other() -> None:
    team = [r(uid, 1, ("D",), open_count=uid % 3) for uid in range(1, 8)]
    result = balance(team, [(n, 1, "D", None) for n in range(200)])
    loads = {rv.user_id: rv.open_count for rv in team}
    for owner in result.values():
        loads[owner] += 1
    assert max(loads.values()) - min(loads.values()) <= 1
    assert len(result) == 200


def test_balance_routes_each_ticket_by_its_own_level_and_place() -> None:
    tickets = [
        (1, 1, "NE1", "NE"),
        (2, 1, "NE1", "NE"),
        (3, 1, "SW1", "SW"),
        (4, 2, "NE1", "NE"),
        (5, 2, "NE1", "NE"),
        (6, 3, None, None),
        (7, 1, "XX1", "XX"),
    ]
    assert balance(TEAM, tickets) == {
        1: 11,  # 11 and 12 tie at 1; 11 is lower
        2: 12,  # 11 now has 2
        3: 14,
        4: 21,  # 21 has 1, 20 has 2
        5: 20,  # 2 each: lowest id
        6: 30,
        7: 31,  # nobody below national; 30 took ticket 6
    }


def test_balance_leaves_out_tickets_nobody_can_own() -> None:
    team = [r(1, 1, ("D",))]
    assert balance(team, [("a", 1, "D", None), ("b", 1, "E", None), ("c", 2, "D", None)]) == {
        "a": 1
    }


def test_balance_counts_load_across_levels_for_the_same_reviewer() -> None:
    # The national reviewer takes the region's overflow, and that work counts at level 3 too.
    team = [r(1, 3, open_count=0), r(2, 3, open_count=1)]
    result = balance(team, [("x", 2, "D", "R"), ("y", 3, "D", "R"), ("z", 3, "D", "R")])
    assert result == {"x": 1, "y": 1, "z": 2}


def test_balance_of_nothing() -> None:
    assert balance(TEAM, []) == {}


# --- one place at a time (the SLA sweep) ------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "district", "region", "expected"),
    [
        pytest.param(1, "NE1", "NE", {10, 11, 12}, id="active-district-reviewers"),
        pytest.param(1, "XX1", "XX", {30, 31}, id="nobody-in-district-or-region"),
        pytest.param(2, "NE3", "NE", {20}, id="region"),
        pytest.param(1, "NE3", "NE", {20}, id="district-without-reviewers-goes-to-region"),
        pytest.param(3, None, None, {30, 31}, id="national"),
    ],
)
def test_place_pool_is_the_first_level_up_with_anyone(
    level: int, district: str | None, region: str | None, expected: set[int]
) -> None:
    pool = place_pool(TEAM, level=level, district=district, region=region)
    assert {rv.user_id for rv in pool} == expected


def test_place_pool_of_nobody() -> None:
    assert place_pool([r(1, 1, ("D",), active=False)], level=3, district="D", region=None) == []


def test_spread_counts_each_ticket_before_the_next_and_updates_the_load() -> None:
    team = [r(1, 1, ("D",)), r(2, 1, ("D",)), r(3, 1, ("D",))]
    load = {1: 3, 2: 0, 3: 1}
    assert spread(team, load, 6) == [2, 2, 3, 2, 3, 1]
    assert load == {1: 4, 2: 3, 3: 3}


def test_spread_of_nothing_or_to_nobody() -> None:
    load = {1: 0}
    assert spread([r(1, 1, ("D",))], load, 0) == []
    assert spread([], load, 5) == []
    assert load == {1: 0}


@given(
    loads=st.lists(st.integers(0, 6), min_size=1, max_size=6),
    inactive=st.sets(st.integers(0, 5)),
    count=st.integers(0, 40),
    level=st.sampled_from([1, 2, 3]),
)
def test_spread_over_the_place_pool_matches_balance(
    loads: list[int], inactive: set[int], count: int, level: int
) -> None:
    # A mixed team: reviewers of each level for district D in region R, some inactive.
    team = [
        r(uid + 1, uid % 3 + 1, ("D",), "R", open_count=n, active=uid not in inactive)
        for uid, n in enumerate(loads)
    ]
    tickets = [(i, level, "D", "R") for i in range(count)]
    expected = balance(team, tickets)
    load = {rv.user_id: rv.open_count for rv in team}
    pool = place_pool(team, level=level, district="D", region="R")
    assert dict(enumerate(spread(pool, load, count))) == expected


def test_balance_does_not_change_the_reviewers() -> None:
    team = [r(1, 1, ("D",), open_count=0)]
    balance(team, [("a", 1, "D", None)])
    assert team[0].open_count == 0


# --- escalation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("new_level", "district", "region", "expected"),
    [
        (2, "NE1", "NE", 21),
        (2, "NE3", "NE", 20),
        (2, "XX1", "XX", 30),
        (3, "NE1", "NE", 30),
    ],
)
def test_escalation_owner(
    new_level: int, district: str | None, region: str | None, expected: int
) -> None:
    owner = escalation_owner(TEAM, new_level=new_level, district=district, region=region)
    assert owner == expected


def test_escalation_keeps_a_gold_partners_coordinator() -> None:
    owner = escalation_owner(TEAM, new_level=2, district="NE1", region="NE", gold_coordinator_id=12)
    assert owner == 12


def test_escalation_with_nobody_above() -> None:
    team = [r(1, 1, ("D",)), r(2, 2, region="R", active=False)]
    assert escalation_owner(team, new_level=2, district="D", region="R") is None
    assert escalation_owner(team, new_level=3, district="D", region="R") is None
