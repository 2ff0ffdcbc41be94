"""The SLA sweep beyond the basics in test_service: owners planned per place, locks held by
others, tickets changed between planning and writing, fan-out per endpoint, lateness."""

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from escalation import fanout, service, sweep, sweep_pg, sweep_sqlite
from escalation.routing import Reviewer, active_coordinators
from escalation.sweep_sqlite import Overdue, plan_owners
from models import OutboxMessage, Ticket, TicketEvent, WebhookEndpoint
from models.db import db
from tests.escalation.test_service import MONDAY, _sweep_world, events, outbox


def overdue(ticket_id: int, level: int = 1, district: str = "D", **kw: Any) -> Overdue:
    """Return a planned overdue ticket."""
    data: dict[str, Any] = {
        "id": ticket_id,
        "type": "conflict",
        "level": level,
        "district": district,
        "region": "R",
        "partner_id": None,
        "other_partner_id": None,
        "owner_id": None,
        "due": MONDAY,
    }
    data.update(kw)
    return Overdue(**data)


def test_plan_keeps_gold_tickets_and_spreads_the_rest_per_place() -> None:
    team = [
        Reviewer(1, 2, frozenset({"D"}), "R", open_count=0),
        Reviewer(2, 2, frozenset({"D"}), "R", open_count=1),
        Reviewer(3, 3, open_count=0),
        Reviewer(9, 1, frozenset({"E"}), open_count=50),  # a Gold partner's coordinator
        Reviewer(8, 1, frozenset({"E"}), active=False),
    ]
    candidates = [
        overdue(10),
        overdue(11),
        overdue(12, partner_id=77),  # Gold: stays with its coordinator, however busy
        overdue(13, other_partner_id=77),
        overdue(14, partner_id=66),  # Gold, but the coordinator is inactive
        overdue(15, level=2),
        overdue(16, district="Z", region="Q"),  # nobody at level 2 there: national
        overdue(17, level=2, district="Z"),
    ]
    owners = plan_owners(team, candidates, active_coordinators(team, {77: 9, 66: 8}))
    assert owners == {10: 1, 11: 1, 12: 9, 13: 9, 14: 2, 15: 3, 16: 3, 17: 3}


def test_plan_of_tickets_nobody_can_own() -> None:
    assert plan_owners([], [overdue(1)], {}) == {}


def test_tickets_nobody_can_own_still_escalate_without_an_owner(world: dict[str, Any]) -> None:
    from tests.factories import make_registration, make_ticket

    reg = make_registration(world["p_user"], customer_name="Orphan")
    ticket = make_ticket(reg, sla_due_at=MONDAY - timedelta(hours=1))
    db.session.commit()
    assert service.escalate_overdue(db.session, MONDAY) == 1
    db.session.commit()
    moved = db.session.get(Ticket, ticket.id)
    assert moved is not None and (moved.level, moved.owner_id) == (2, None)
    assert outbox("ticket_escalated") == []


def test_lateness_and_due_times_are_recorded_alike_on_every_database(
    world: dict[str, Any],
) -> None:
    setup = _sweep_world(world)
    now, late = setup["now"], setup["late"]
    first_owner = setup["tickets"]["l1_late_b"].owner_id
    service.escalate_overdue(db.session, now)
    db.session.commit()
    (ev,) = events(setup["tickets"]["l1_late_b"], "escalated")
    assert ev.body == "The level 1 SLA ran out; escalated to level 2."
    assert ev.visibility == "public" and ev.actor_id is None
    previous = datetime.fromisoformat(ev.data["previous_due_at"])
    assert previous == late - timedelta(hours=1)
    assert ev.data["due_at"] == "2026-03-04T15:00:00+00:00"
    assert ev.data["overdue_seconds"] == 4 * 3600
    assert ev.data["reason"] == "sla_overdue"
    assert ev.data["owner_id"] in setup["l2"]
    assert ev.data["previous_owner_id"] == first_owner
    (breach,) = events(setup["tickets"]["l3_late"], "breached")
    assert breach.data["overdue_seconds"] == 3 * 3600 and breach.visibility == "internal"


def test_one_fanout_row_per_subscribed_endpoint(world: dict[str, Any]) -> None:
    setup = _sweep_world(world)
    db.session.add(WebhookEndpoint(url="https://b.example.com/x", secret="s" * 20))
    db.session.add(
        WebhookEndpoint(url="https://c.example.com/x", secret="s" * 20, events=["ticket.decided"])
    )
    db.session.add(WebhookEndpoint(url="https://d.example.com/x", secret="s" * 20, enabled=False))
    db.session.commit()
    service.escalate_overdue(db.session, setup["now"])
    db.session.commit()
    rows = outbox(channel="webhook")
    assert sorted(r.recipient for r in rows) == [
        "https://b.example.com/x",
        "https://hooks.example.com/x",
    ]
    assert {r.status for r in rows} == {fanout.FANOUT}
    assert fanout.expand_fanouts(db.session, setup["now"]) == 6
    db.session.commit()
    messages = outbox(channel="webhook")
    assert len({m.message_id for m in messages}) == 6


def test_no_webhook_row_without_endpoints(world: dict[str, Any]) -> None:
    setup = _sweep_world(world)
    db.session.execute(sa.delete(WebhookEndpoint))
    db.session.commit()
    assert service.escalate_overdue(db.session, setup["now"]) == 4
    db.session.commit()
    assert outbox(channel="webhook") == []


def test_the_job_runs_the_sweep(app: Flask, world: dict[str, Any]) -> None:
    from escalation.jobs import run_job

    setup = _sweep_world(world)
    db.session.remove()
    run = run_job(app, "escalate_overdue", now=setup["now"])
    assert run.error is None and run.items == 4
    assert run_job(app, "escalate_overdue", now=setup["now"]).items == 0


# --- PostgreSQL: rows held or changed by others -------------------------------------------


def _needs_postgres() -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks need PostgreSQL")


@pytest.mark.postgres
def test_a_ticket_someone_holds_is_left_for_the_next_sweep(world: dict[str, Any]) -> None:
    _needs_postgres()
    setup = _sweep_world(world)
    held = setup["tickets"]["l1_late_a"]
    person = sa.orm.Session(db.engine)
    try:
        person.execute(sa.select(Ticket).where(Ticket.id == held.id).with_for_update())
        # The sweep does not wait for the row; it moves the others.
        assert service.escalate_overdue(db.session, setup["now"]) == 3
        db.session.commit()
        person.rollback()
    finally:
        person.close()
    assert db.session.get(Ticket, held.id).level == 1  # type: ignore[union-attr]
    assert service.escalate_overdue(db.session, setup["now"] + timedelta(minutes=1)) == 1
    db.session.commit()
    assert db.session.get(Ticket, held.id).level == 2  # type: ignore[union-attr]
    counts = db.session.execute(
        sa.select(TicketEvent.kind, sa.func.count()).group_by(TicketEvent.kind)
    ).all()
    assert dict(counts) == {"escalated": 3, "breached": 1}
    fanouts = db.session.execute(
        sa.select(sa.func.count()).where(OutboxMessage.status == fanout.FANOUT)
    ).scalar_one()
    assert fanouts == 2


@pytest.mark.postgres
def test_a_ticket_changed_after_planning_is_not_moved(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _needs_postgres()
    setup = _sweep_world(world)
    decided = setup["tickets"]["l1_late_b"]
    escalated = setup["tickets"]["l2_late"]
    plan = sweep_pg._plan

    def plan_then_change(sess: Any, ctx: Any) -> Any:
        planned = plan(sess, ctx)
        now = ctx.now
        # A person decides one ticket and escalates another by hand, and commits, while
        # the sweep is between planning and writing.
        with sa.orm.Session(db.engine) as person:
            person.execute(
                sa.update(Ticket)
                .where(Ticket.id == decided.id)
                .values(
                    status="decided",
                    resolution="rejected",
                    rationale="Decided by hand.",
                    decided_at=now,
                )
            )
            person.execute(
                sa.update(Ticket)
                .where(Ticket.id == escalated.id)
                .values(level=3, sla_due_at=now + timedelta(days=1))
            )
            person.commit()
        return planned

    monkeypatch.setattr(sweep_pg, "_plan", plan_then_change)
    assert service.escalate_overdue(db.session, setup["now"]) == 2  # l1_late_a and l3's breach
    db.session.commit()
    assert events(decided, "escalated") == [] and events(escalated, "escalated") == []
    after = db.session.get(Ticket, escalated.id)
    assert after is not None and after.level == 3 and after.sla_due_at > setup["now"]
    assert fanout.expand_fanouts(db.session, setup["now"]) == 1


def test_overdue_tickets_are_read_most_overdue_first_with_aware_due_times(
    world: dict[str, Any],
) -> None:
    setup = _sweep_world(world)
    rows = sweep_sqlite.overdue(db.session, setup["now"])
    # l1_late_a and l2_late share a due time: the lower id comes first.
    expected = [setup["tickets"][k].id for k in ("l1_late_b", "l1_late_a", "l2_late")]
    assert [r.id for r in rows] == expected
    assert all(r.due.tzinfo is not None and r.due.utcoffset() == timedelta(0) for r in rows)
    assert rows[0].due == setup["late"] - timedelta(hours=1)
    assert rows[0].owner_id == setup["tickets"]["l1_late_b"].owner_id


def test_owners_are_planned_alike_on_every_database(world: dict[str, Any]) -> None:
    # Several places sharing reviewers, uneven loads, a Gold partner and ties in due times:
    # the sweep's statements must give every ticket the owner plan_owners gives it.
    from tests.escalation.test_service import reviewer
    from tests.factories import make_partner, make_registration, make_ticket, make_user

    now = MONDAY
    reviewer(level=1, districts=("northeast",))
    l2 = [reviewer(level=2, districts=(), region="east") for _ in range(3)]
    reviewer(level=2, districts=("pacific",), region="west")
    national = [reviewer(level=3, districts=()) for _ in range(2)]
    coordinator = reviewer(level=1, districts=("pacific",))
    gold = make_partner("Gold Co", points=150, technical_coordinator_id=coordinator.id)
    gold_user = make_user("partner", partner_id=gold.id)
    busy = make_registration(world["p_user"], customer_name="Busy")
    for _ in range(3):
        make_ticket(busy, rule="X", sla_due_at=now + timedelta(days=3), owner_id=l2[0].id)
        busy = make_registration(world["p_user"], customer_name="Busy")
    make_ticket(busy, sla_due_at=now + timedelta(days=3), owner_id=national[1].id)
    places = [("northeast", "east"), ("midatlantic", "east"), ("pacific", "west"), (None, None)]
    for i in range(36):
        district, region = places[i % len(places)]
        owner_of = gold_user if i % 7 == 0 else world["p_user"]
        reg = make_registration(owner_of, customer_name=f"Customer {i}")
        make_ticket(
            reg,
            level=1 + i % 2,
            district=district,
            region=region,
            sla_due_at=now - timedelta(minutes=10 * (i % 5) + 1),
        )
    db.session.commit()

    ctx = sweep._context(db.session, now)
    candidates = sweep_sqlite.overdue(db.session, now)
    expected = plan_owners(ctx.reviewers, candidates, ctx.gold)
    assert coordinator.id in expected.values() and len(set(expected.values())) > 4
    db.session.rollback()

    assert service.escalate_overdue(db.session, now) == 36
    db.session.commit()
    owners = dict(
        db.session.execute(
            sa.select(Ticket.id, Ticket.owner_id).where(Ticket.id.in_([c.id for c in candidates]))
        ).all()
    )
    assert owners == {c.id: expected.get(c.id) for c in candidates}


@pytest.mark.postgres
def test_the_sweep_puts_its_statement_settings_back(world: dict[str, Any]) -> None:
    _needs_postgres()
    setup = _sweep_world(world)
    names = list(sweep_pg.SWEEP_SETTINGS)

    def current() -> list[str]:
        return [
            db.session.execute(sa.text("SELECT current_setting(:n)"), {"n": n}).scalar_one()
            for n in names
        ]

    before = current()
    assert service.escalate_overdue(db.session, setup["now"]) == 4
    assert current() == before
    db.session.commit()
