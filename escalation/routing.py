"""Who reviews what: choosing ticket owners by level, territory and open work (pure)."""

import heapq
from collections.abc import Hashable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from escalation.states import LEVELS, check_level

TicketId = TypeVar("TicketId", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Reviewer:
    """A reviewer as routing sees them: level, territory and current open work."""

    user_id: int
    level: int  # 1 district, 2 region, 3 national
    districts: frozenset[str] = frozenset()
    region: str | None = None
    open_count: int = 0  # open and in-review tickets they own now
    active: bool = True

    def __post_init__(self) -> None:
        # User.districts is stored as a JSON list; accept any iterable of codes.
        object.__setattr__(self, "districts", frozenset(self.districts))
        check_level(self.level)

    def covers(self, level: int, district: str | None, region: str | None) -> bool:
        """Return True when this reviewer may own tickets at this level and place."""
        if not self.active or self.level != level:
            return False
        if level == 1:
            return district is not None and district in self.districts
        if level == 2:
            # A regional reviewer is configured with either the region or its districts.
            return (region is not None and self.region == region) or (
                district is not None and district in self.districts
            )
        return True  # national reviewers cover everything


def _least_loaded(candidates: Iterable[Reviewer], load: Mapping[int, int]) -> int | None:
    # Ties go to the lowest user id so the same inputs always pick the same person.
    best = min(candidates, key=lambda r: (load[r.user_id], r.user_id), default=None)
    return None if best is None else best.user_id


def _pick(
    reviewers: Sequence[Reviewer],
    load: Mapping[int, int],
    *,
    level: int,
    district: str | None,
    region: str | None,
    gold_coordinator_id: int | None,
) -> int | None:
    check_level(level)
    if gold_coordinator_id is not None and any(
        r.user_id == gold_coordinator_id and r.active for r in reviewers
    ):
        return gold_coordinator_id
    # Nobody at a level must not strand a ticket: the next level up takes it. The ticket keeps
    # its level (and SLA); only its owner comes from higher up.
    for candidate_level in LEVELS[LEVELS.index(level) :]:
        owner = _least_loaded(
            (r for r in reviewers if r.covers(candidate_level, district, region)), load
        )
        if owner is not None:
            return owner
    return None


def _load_of(reviewers: Sequence[Reviewer]) -> dict[int, int]:
    return {r.user_id: r.open_count for r in reviewers}


def pick_owner(
    reviewers: Iterable[Reviewer],
    *,
    level: int,
    district: str | None,
    region: str | None,
    gold_coordinator_id: int | None = None,
) -> int | None:
    """Return the user id that should own a new ticket, or None when nobody can.

    An active Gold partner technical coordinator owns the ticket whatever the level. Otherwise
    the active reviewer covering the level and place with the least open work owns it, lowest
    user id first on a tie; a level with nobody falls back to the next level up.
    """
    pool = list(reviewers)
    return _pick(
        pool,
        _load_of(pool),
        level=level,
        district=district,
        region=region,
        gold_coordinator_id=gold_coordinator_id,
    )


def balance(
    reviewers: Iterable[Reviewer],
    tickets: Sequence[tuple[TicketId, int, str | None, str | None]],
) -> dict[TicketId, int]:
    """Assign a batch of (ticket_id, level, district, region) tickets, spreading the load.

    Tickets are taken in the order given (pass the most urgent first), and each assignment
    counts towards its owner's open work before the next ticket is placed. Tickets nobody can
    own are left out of the result.
    """
    pool = list(reviewers)
    load = _load_of(pool)
    assigned: dict[TicketId, int] = {}
    for ticket_id, level, district, region in tickets:
        owner = _pick(
            pool, load, level=level, district=district, region=region, gold_coordinator_id=None
        )
        if owner is not None:
            assigned[ticket_id] = owner
            load[owner] += 1
    return assigned


def place_pool(
    reviewers: Iterable[Reviewer], *, level: int, district: str | None, region: str | None
) -> list[Reviewer]:
    """Return who may own tickets at a level and place: the first level up that has anyone."""
    check_level(level)
    pool = list(reviewers)
    for candidate_level in LEVELS[LEVELS.index(level) :]:
        covering = [r for r in pool if r.covers(candidate_level, district, region)]
        if covering:
            return covering
    return []


def spread(pool: Sequence[Reviewer], load: MutableMapping[int, int], count: int) -> list[int]:
    """Return owners for count tickets of one place in turn, each to the least-loaded reviewer.

    This is balance() for a batch whose tickets share one level and place, in O(n log k)
    rather than O(n k): ties go to the lowest user id and every assignment counts towards
    the owner's load (load is updated in place) before the next ticket is placed.
    """
    if not pool or count <= 0:
        return []
    heap = [(load[user_id], user_id) for user_id in {r.user_id for r in pool}]
    heapq.heapify(heap)
    owners: list[int] = []
    for _ in range(count):
        open_count, user_id = heap[0]
        owners.append(user_id)
        heapq.heapreplace(heap, (open_count + 1, user_id))
    for open_count, user_id in heap:
        load[user_id] = open_count
    return owners


Place = tuple[int, str | None, str | None]  # (level, district, region)


def place_order(first_due: Any, place: Place) -> tuple[Any, int, str, str]:
    """Return the key that orders places: most urgent ticket first, then the place itself."""
    level, district, region = place
    return (first_due, level, district or "", region or "")


def place_owners(
    reviewers: Sequence[Reviewer], counts: Iterable[tuple[Place, int]]
) -> dict[Place, list[int]]:
    """Return per place, taken in the order given, the owners of its tickets in turn.

    Each place's tickets are spread over the reviewers who may own them there (spread), and
    the load carries over from one place to the next; pass the most urgent place first.
    """
    load = {r.user_id: r.open_count for r in reviewers}
    return {
        place: spread(
            place_pool(reviewers, level=place[0], district=place[1], region=place[2]), load, n
        )
        for place, n in counts
    }


def active_coordinators(reviewers: Iterable[Reviewer], gold: Mapping[int, int]) -> dict[int, int]:
    """Return partner id -> coordinator for the Gold partners whose coordinator may own work."""
    active = {r.user_id for r in reviewers if r.active}
    return {partner_id: user_id for partner_id, user_id in gold.items() if user_id in active}


def escalation_owner(
    reviewers: Iterable[Reviewer],
    *,
    new_level: int,
    district: str | None,
    region: str | None,
    gold_coordinator_id: int | None = None,
) -> int | None:
    """Return who should own a ticket that has just escalated to new_level, or None.

    Pass gold_coordinator_id to keep a Gold partner's ticket with its technical coordinator,
    who owns the partner's escalations until resolution.
    """
    return pick_owner(
        reviewers,
        level=new_level,
        district=district,
        region=region,
        gold_coordinator_id=gold_coordinator_id,
    )
