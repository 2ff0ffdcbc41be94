"""The SLA sweep's statements on SQLite, where BEGIN IMMEDIATE orders the writers.

The sweep reads the overdue tickets, plans each one's new owner in Python and moves them with
one UPDATE per (level, due time, owner) whose WHERE re-checks that the ticket is still overdue
at that level, so a ticket changed in the meantime is left alone rather than moved twice.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from escalation.fanout import fanout_rows, payload_groups
from escalation.routing import Place, Reviewer, place_order, place_owners
from escalation.service import OPEN_STATUSES, _chunks, _iso
from escalation.states import TicketStatus
from models import OutboxMessage, Ticket, TicketEvent

if TYPE_CHECKING:
    from escalation.sweep import ByOwner, SweepContext

EVENT = "ticket.escalated"


class Overdue(NamedTuple):
    """An overdue open ticket as the sweep plans it."""

    id: int
    type: str
    level: int
    district: str | None
    region: str | None
    partner_id: int | None
    other_partner_id: int | None
    owner_id: int | None
    due: datetime


def plan_owners(
    reviewers: Sequence[Reviewer], candidates: Sequence[Overdue], gold: dict[int, int]
) -> dict[int, int]:
    """Return ticket id -> new owner for tickets moving up one level, spreading the load.

    gold maps partner id -> active coordinator: the first party's coordinator keeps the
    ticket. The others are spread per place, most urgent place first (routing.place_order)
    and within a place in the order given (most urgent first); tickets nobody can own are
    left out.
    """
    owners: dict[int, int] = {}
    places: dict[Place, list[int]] = defaultdict(list)
    first: dict[Place, datetime] = {}
    for c in candidates:
        coordinator = gold.get(c.partner_id or -1) or gold.get(c.other_partner_id or -1)
        if coordinator is not None:
            owners[c.id] = coordinator
            continue
        place = (c.level + 1, c.district, c.region)
        places[place].append(c.id)
        first[place] = min(c.due, first.get(place, c.due))
    order = sorted(places, key=lambda place: place_order(first[place], place))
    spreads = place_owners(reviewers, [(place, len(places[place])) for place in order])
    for place in order:
        owners.update(zip(places[place], spreads[place], strict=False))
    return owners


def overdue(sess: Session, now: datetime) -> list[Overdue]:
    """Return the overdue open tickets below level 3, most overdue first."""
    t = Ticket.__table__.c  # type: ignore[attr-defined]
    rows = sess.execute(
        sa.select(
            t.id,
            t.type,
            t.level,
            t.district,
            t.region,
            t.partner_id,
            t.other_partner_id,
            t.owner_id,
            t.sla_due_at,
        )
        .where(t.status.in_(OPEN_STATUSES), t.sla_due_at < now, t.level < 3)
        .order_by(t.sla_due_at, t.id)
    ).all()
    return [Overdue._make(row) for row in rows]


def mark_breached(sess: Session, now: datetime) -> "ByOwner":
    """Mark overdue national tickets breached, once each; return their ids by owner."""
    table = Ticket.__table__  # type: ignore[attr-defined]
    stmt = (
        sa.update(table)
        .where(
            table.c.status.in_(OPEN_STATUSES),
            table.c.level == 3,
            table.c.breached.is_(False),
            table.c.sla_due_at < now,
        )
        .values(breached=True, updated_at=now)
        .returning(table.c.id, table.c.owner_id, table.c.sla_due_at)
    )
    marked = sess.execute(stmt).all()
    if marked:
        sess.execute(
            sa.insert(TicketEvent),
            [
                {
                    "ticket_id": tid,
                    "kind": "breached",
                    "visibility": "internal",
                    "actor_id": None,
                    "body": "The national SLA ran out before a decision.",
                    "data": {
                        "level": 3,
                        "due_at": _iso(due),
                        "overdue_seconds": int((now - due).total_seconds()),
                    },
                    "created_at": now,
                }
                for tid, _owner, due in marked
            ],
        )
    by_owner: ByOwner = defaultdict(list)
    for tid, owner, _due in marked:
        by_owner[owner].append(tid)
    return dict(by_owner)


def escalate(sess: Session, ctx: "SweepContext") -> "ByOwner":
    """Move every overdue ticket below level 3 up one level; return the moved ids by owner."""
    now = ctx.now
    candidates = overdue(sess, now)
    if not candidates:
        return {}
    owners = plan_owners(ctx.reviewers, candidates, ctx.gold)
    table = Ticket.__table__  # type: ignore[attr-defined]
    groups: dict[tuple[int, datetime, int | None], list[int]] = defaultdict(list)
    for c in candidates:
        groups[(c.level, ctx.due((c.type, c.level + 1, c.district)), owners.get(c.id))].append(c.id)
    moved_ids: set[int] = set()
    for (old_level, due, owner), ids in groups.items():
        for chunk in _chunks(ids):
            stmt = (
                sa.update(table)
                .where(
                    table.c.id.in_(chunk),
                    table.c.status.in_(OPEN_STATUSES),
                    table.c.level == old_level,
                    table.c.sla_due_at < now,
                )
                .values(
                    level=old_level + 1,
                    status=TicketStatus.OPEN.value,
                    owner_id=owner,
                    claimed_at=None,
                    escalated_at=now,
                    sla_due_at=due,
                    updated_at=now,
                )
                .returning(table.c.id)
            )
            moved_ids.update(row[0] for row in sess.execute(stmt))
    done = sorted((c for c in candidates if c.id in moved_ids), key=lambda c: c.id)
    if not done:
        return {}
    sess.execute(sa.insert(TicketEvent), [_event(c, ctx, owners.get(c.id)) for c in done])
    shared = [(c.id, _payload(c, ctx)) for c in done]
    hooks = fanout_rows(ctx.endpoints, EVENT, payload_groups(shared), now)
    if hooks:
        sess.execute(sa.insert(OutboxMessage), hooks)
    by_owner: ByOwner = defaultdict(list)
    for c in done:
        by_owner[owners.get(c.id)].append(c.id)
    return dict(by_owner)


def _event(c: Overdue, ctx: "SweepContext", owner: int | None) -> dict[str, Any]:
    now = ctx.now
    return {
        "ticket_id": c.id,
        "kind": "escalated",
        "visibility": "public",
        "actor_id": None,
        "body": f"The level {c.level} SLA ran out; escalated to level {c.level + 1}.",
        "data": {
            "from_level": c.level,
            "to_level": c.level + 1,
            "reason": "sla_overdue",
            "previous_due_at": _iso(c.due),
            "overdue_seconds": int((now - c.due).total_seconds()),
            "due_at": _iso(ctx.due((c.type, c.level + 1, c.district))),
            "owner_id": owner,
            "previous_owner_id": c.owner_id,
        },
        "created_at": now,
    }


def _payload(c: Overdue, ctx: "SweepContext") -> dict[str, Any]:
    """Return the webhook payload of an escalated ticket, without its id."""
    return {
        "type": c.type,
        "status": TicketStatus.OPEN.value,
        "level": c.level + 1,
        "from_level": c.level,
        "district": c.district,
        "sla_due_at": _iso(ctx.due((c.type, c.level + 1, c.district))),
    }
