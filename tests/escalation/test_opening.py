"""Opening a ticket: routing is the system's act, and a no-bid override opens at level 3."""

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from conflict.schemas import RegistrationCreate
from conflict.service import request_override, submit_registration
from escalation import service
from escalation.queries import QueueFilters, queue_page
from models import Registration, Ticket, TicketEvent, User
from models.db import db
from tests.escalation.test_service import make_finding
from tests.factories import login, make_district, make_registration, make_user

# Monday 2 March 2026, 10:00 in New York: a plain working morning.
MONDAY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
GRANT = "Strategic .NET migration; the partner keeps the middleware work."


def _events(ticket: Ticket) -> dict[str, TicketEvent]:
    rows = db.session.execute(
        sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    ).scalars()
    return {e.kind: e for e in rows}


# --- the routed event ------------------------------------------------------------------------


def test_the_routed_event_has_no_actor_while_the_opened_one_keeps_the_submitter(
    world: dict[str, Any],
) -> None:
    owner = make_user("reviewer", level=1, districts=["northeast"])
    submitter = world["p_user"]
    finding = make_finding(world["reg"])
    ticket = service.open_ticket(
        db.session, registration=world["reg"], finding=finding, actor_id=submitter.id
    )
    assert ticket.owner_id == owner.id
    kinds = _events(ticket)
    assert kinds["opened"].actor_id == submitter.id
    assert kinds["routed"].actor_id is None
    assert kinds["routed"].data["owner_id"] == owner.id


def test_the_timeline_shows_routing_as_the_systems(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        make_district("northeast", "east")
        make_user("reviewer", level=1, districts=["northeast"])
        partner = make_user("partner", name="Pat Partner")
        reg = make_registration(partner, district="northeast", status="in_conflict")
        ticket = service.open_ticket(
            db.session, registration=reg, finding=make_finding(reg), actor_id=partner.id
        )
        admin = make_user("admin")
        db.session.commit()
        url, email = f"/tickets/{ticket.id}", admin.email
    login(client, email)
    html = client.get(url).get_data(as_text=True)
    timeline = html[html.index('id="timeline-h"') :]
    routed = timeline[timeline.index("Routed") :]
    assert routed[: routed.index("</p>")].endswith("· system</span>")


# --- a no-bid override -----------------------------------------------------------------------


def _blocked_engagement(partner: User | None = None) -> tuple[Registration, User]:
    """Return an MCS engagement the no-bid commitment rejected, and its seller."""
    make_district("northeast", "east")
    submit_registration(
        db.session,
        RegistrationCreate(
            customer_name="Humongous Insurance", workloads=["dotnet_server"], pc_count=4500
        ),
        user=partner or make_user("partner"),
    )
    seller = make_user("mcs")
    reg = submit_registration(
        db.session,
        RegistrationCreate(customer_name="Humongous Insurance", workloads=["azure"], pc_count=4500),
        user=seller,
    ).registration
    assert reg.status == "rejected"
    return reg, seller


def test_a_no_bid_override_opens_at_level_three_with_its_sla(ctx: Flask) -> None:
    reg, seller = _blocked_engagement()
    with time_machine.travel(MONDAY, tick=False):
        ticket = request_override(
            db.session, reg, user=seller, reason="The customer asked MCS to lead the .NET move."
        )
    assert ticket.type == "exception" and ticket.rule == "NO_BID_DOTNET"
    assert ticket.level == 3
    # Level-3 exceptions have 16 business hours: Monday 10:00 to Wednesday 10:00 in New York.
    assert ticket.sla_due_at == datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    assert _events(ticket)["opened"].data["level"] == 3


def test_route_exceptions_gives_a_no_bid_ticket_to_a_national_reviewer_who_may_grant_it(
    ctx: Flask,
) -> None:
    local = make_user("reviewer", level=1, districts=["northeast"])
    regional = make_user("reviewer", level=2, districts=[], region="east")
    national = make_user("reviewer", level=3, districts=[])
    reg, seller = _blocked_engagement()
    ticket = request_override(
        db.session, reg, user=seller, reason="The customer asked MCS to lead the .NET move."
    )
    assert ticket.owner_id is None  # exceptions wait for the scheduler's balancing
    assert service.route_exceptions(db.session, datetime.now(UTC)) >= 1
    assert ticket.owner_id == national.id
    # The national queue lists it for work; lower levels see it only to read.
    now = datetime.now(UTC)
    rows = {r.ticket.id: r for r in queue_page(db.session, national, QueueFilters(), now).rows}
    assert ticket.id in rows and rows[ticket.id].workable
    for lower in (local, regional):
        assert not service.can_work(lower, ticket)
    service.decide(
        db.session, ticket, actor=national, resolution="exception_granted", rationale=GRANT
    )
    assert reg.status == "approved"


def test_a_no_bid_ticket_past_its_national_sla_is_marked_breached(world: dict[str, Any]) -> None:
    national = make_user("reviewer", level=3, districts=[])
    reg = make_registration(world["mcs"], status="in_exception_review", district="northeast")
    with time_machine.travel(MONDAY, tick=False):
        ticket = service.open_ticket(
            db.session, registration=reg, finding=make_finding(reg, "NO_BID_DOTNET", evidence={})
        )
    assert ticket.level == 3
    service.route_exceptions(db.session, MONDAY)
    assert ticket.owner_id == national.id
    db.session.commit()
    assert ticket.sla_due_at is not None
    assert service.escalate_overdue(db.session, ticket.sla_due_at + timedelta(hours=1)) == 1
    db.session.commit()
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.level == 3 and ticket.breached is True


def test_a_gold_partners_coordinator_cannot_take_a_no_bid_override(ctx: Flask) -> None:
    # The coordinator takes the Gold partner's conflicts, never an exception: a level-1
    # coordinator handed the national override could otherwise grant it.
    from models import Partner
    from tests.factories import make_partner

    national = make_user("reviewer", level=3, districts=[])
    coordinator = make_user("reviewer", level=1, districts=["southwest"])
    gold = make_partner("Gold Partner Inc", points=130)
    gold.technical_coordinator_id = coordinator.id
    reg, seller = _blocked_engagement(make_user("partner", partner_id=gold.id))
    ticket = request_override(
        db.session, reg, user=seller, reason="The customer asked MCS to lead the .NET move."
    )
    assert db.session.get(Partner, gold.id) is not None and ticket.other_partner_id == gold.id
    assert coordinator not in service.assignable(db.session, ticket)
    assert service.assign_refusal(db.session, ticket, coordinator) is not None
    try:
        service.assign(db.session, ticket, assignee=coordinator, actor=national)
    except service.NotCovered:
        pass
    else:
        raise AssertionError("the coordinator was given the national override")
    ticket.owner_id = coordinator.id  # even as its owner, the coordinator may not grant it
    assert not service.can_decide(coordinator, ticket)
