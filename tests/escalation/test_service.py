"""Ticket operations: timeline, audit and outbox rows, decisions, routing and the SLA jobs."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask

from escalation import fanout, service
from escalation.states import InvalidDecision, InvalidTransition, registration_status_after
from models import (
    AuditEvent,
    ConflictFinding,
    OutboxMessage,
    Registration,
    Ticket,
    TicketEvent,
    User,
    WebhookEndpoint,
)
from models.db import db
from tests.factories import make_district, make_partner, make_registration, make_ticket, make_user

# Monday 2 March 2026, 10:00 in New York (EST, UTC-5): a plain working morning.
MONDAY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


# --- helpers shared by the escalation web tests ---------------------------------------------


def make_finding(reg: Registration, rule: str = "NAMED_ACCOUNT", **kw: Any) -> ConflictFinding:
    """Create a finding on a registration, as the conflict engine would."""
    evidence = kw.pop("evidence", {"district": "northeast", "mcs_owner_email": "owner@mcs.test"})
    f = ConflictFinding(
        registration_id=reg.id,
        rule=rule,
        severity=kw.pop("severity", "conflict"),
        message=kw.pop("message", f"{reg.customer_name} is a named account."),
        account_name=kw.pop("account_name", "Contoso Ltd"),
        method=kw.pop("method", "domain"),
        score=kw.pop("score", 100.0),
        evidence=evidence,
        **kw,
    )
    db.session.add(f)
    db.session.flush()
    return f


def reviewer(level: int = 1, districts: tuple[str, ...] = ("northeast",), **kw: Any) -> User:
    """Create a reviewer at a level for some districts."""
    return make_user("reviewer", level=level, districts=list(districts), **kw)


def open_for(reg: Registration, rule: str = "NAMED_ACCOUNT", **kw: Any) -> Ticket:
    """Open a ticket through the service for a new finding on the registration."""
    finding = make_finding(reg, rule, **kw)
    other = kw.get("other_registration_id")
    return service.open_ticket(
        db.session,
        registration=reg,
        finding=finding,
        other_registration=db.session.get(Registration, other) if other else None,
    )


def events(ticket: Ticket, kind: str | None = None) -> list[TicketEvent]:
    """Return a ticket's timeline, oldest first."""
    q = sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    if kind:
        q = q.where(TicketEvent.kind == kind)
    return list(db.session.execute(q.order_by(TicketEvent.id)).scalars())


def audits(action: str) -> list[AuditEvent]:
    """Return audit events with an action."""
    return list(
        db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == action)).scalars()
    )


def outbox(template: str | None = None, channel: str = "email") -> list[OutboxMessage]:
    """Return queued messages, optionally of one template."""
    q = sa.select(OutboxMessage).where(OutboxMessage.channel == channel)
    if template:
        q = q.where(OutboxMessage.template == template)
    return list(db.session.execute(q.order_by(OutboxMessage.id)).scalars())


# --- opening ---------------------------------------------------------------------------------


def test_open_conflict_routes_to_least_loaded_reviewer_and_notifies(world: dict[str, Any]) -> None:
    busy = reviewer()
    idle = reviewer()
    reviewer(districts=("pacific",))  # another territory, never picked
    other_reg = make_registration(world["p_user"], customer_name="Busy Co")
    make_ticket(other_reg, owner_id=busy.id)
    db.session.add(WebhookEndpoint(url="https://hooks.example.com/x", secret="s" * 20))
    db.session.flush()

    ticket = open_for(world["reg"])

    assert ticket.type == "conflict" and ticket.level == 1 and ticket.status == "open"
    assert ticket.district == "northeast" and ticket.region == "east"
    assert ticket.owner_id == idle.id and ticket.routed_at is not None
    assert ticket.partner_id == world["partner"].id
    assert ticket.mcs_owner_email == "owner@mcs.test"
    assert ticket.title == "Named account: Contoso Ltd"
    assert ticket.sla_due_at is not None and ticket.sla_due_at > ticket.opened_at
    finding = db.session.execute(
        sa.select(ConflictFinding).where(ConflictFinding.registration_id == world["reg"].id)
    ).scalar_one()
    assert finding.ticket_id == ticket.id
    assert [e.kind for e in events(ticket)] == ["opened", "routed"]
    assert events(ticket, "routed")[0].visibility == "internal"
    assert len(audits("ticket.opened")) == 1
    opened_to = {m.recipient for m in outbox("conflict_opened")}
    assert opened_to == {world["p_user"].email, world["p_user2"].email, "owner@mcs.test"}
    assigned = outbox("ticket_assigned")
    assert [m.recipient for m in assigned] == [idle.email]
    assert assigned[0].context["url"].endswith(f"/tickets/{ticket.id}")
    assert {"headline", "lines", "url", "ticket_id", "due_at"} <= set(assigned[0].context)
    hooks = outbox(channel="webhook")
    assert [h.event for h in hooks] == ["ticket.opened"]
    assert hooks[0].context["data"]["ticket_id"] == ticket.id


def test_open_uses_the_district_calendar(world: dict[str, Any]) -> None:
    reg = make_registration(world["p_user"], district="pacific")
    with time_machine.travel(MONDAY, tick=False):
        east = open_for(world["reg"])
        west = open_for(reg, evidence={"district": "pacific"})
    # 16 business hours: New York from Mon 10:00 -> Wed 10:00 EST (15:00 UTC);
    # in Los Angeles it is 07:00, so all of Monday counts -> Tue 17:00 PST (Wed 01:00 UTC).
    assert east.sla_due_at == datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    assert west.sla_due_at == datetime(2026, 3, 4, 1, 0, tzinfo=UTC)
    assert west.region == "west"


def test_district_holidays_stop_the_clock(world: dict[str, Any]) -> None:
    make_district("capital", "east", holidays=["2026-03-03"])
    reg = make_registration(world["p_user"], district="capital")
    with time_machine.travel(MONDAY, tick=False):
        ticket = open_for(reg, evidence={"district": "capital"})
    assert ticket.sla_due_at == datetime(2026, 3, 5, 15, 0, tzinfo=UTC)


def test_open_twice_returns_the_open_ticket(world: dict[str, Any]) -> None:
    first = open_for(world["reg"])
    second = open_for(world["reg"])
    assert second.id == first.id
    assert db.session.execute(sa.select(sa.func.count()).select_from(Ticket)).scalar_one() == 1
    linked = db.session.execute(
        sa.select(ConflictFinding.ticket_id).where(
            ConflictFinding.registration_id == world["reg"].id
        )
    ).scalars()
    assert set(linked) == {first.id}


@pytest.mark.parametrize("rule", ["DOTNET_EXCEPTION", "MCS_SIZE_THRESHOLD", "NO_BID_DOTNET"])
def test_exception_tickets_open_unrouted(world: dict[str, Any], rule: str) -> None:
    reviewer()
    reg = make_registration(world["mcs"], district="northeast", status="in_exception_review")
    ticket = open_for(reg, rule, evidence={})
    assert ticket.type == "exception"
    assert ticket.owner_id is None and ticket.routed_at is None
    assert ticket.district == "northeast"
    assert outbox("ticket_assigned") == []
    # The MCS seller who registered it hears that it is under review.
    assert [m.recipient for m in outbox("conflict_opened")] == ["seller@mcs.test"]


def test_gold_partner_coordinator_owns_the_ticket(world: dict[str, Any]) -> None:
    reviewer()
    coordinator = reviewer(level=2, districts=(), region="west")
    gold = make_partner("Gold Co", points=130, technical_coordinator_id=coordinator.id)
    user = make_user("partner", partner_id=gold.id)
    reg = make_registration(user, district="northeast")
    ticket = open_for(reg)
    assert ticket.owner_id == coordinator.id


def test_partner_overlap_records_both_partners(world: dict[str, Any]) -> None:
    rival = make_partner("Rival")
    rival_user = make_user("partner", partner_id=rival.id)
    earlier = make_registration(rival_user, customer_name="Contoso")
    ticket = open_for(
        world["reg"], "PARTNER_OVERLAP", evidence={}, other_registration_id=earlier.id
    )
    assert ticket.other_registration_id == earlier.id
    assert ticket.other_partner_id == rival.id
    recipients = {m.recipient for m in outbox("conflict_opened")}
    assert rival_user.email in recipients and world["p_user"].email in recipients


def test_release_finding_notes_it_on_the_ticket(world: dict[str, Any]) -> None:
    ticket = open_for(world["reg"])
    finding = db.session.execute(sa.select(ConflictFinding)).scalar_one()
    service.release_finding(db.session, finding, reason="Account left the named list.")
    assert finding.active is False and finding.released_at is not None
    released = events(ticket, "finding_released")
    assert len(released) == 1 and released[0].visibility == "public"
    assert released[0].body == "Account left the named list."
    assert len(audits("finding.released")) == 1


# --- working a ticket --------------------------------------------------------------------


def test_claim_unclaim_assign_and_comment(world: dict[str, Any]) -> None:
    me = reviewer()
    colleague = reviewer()
    outsider = reviewer(districts=("pacific",))
    ticket = make_ticket(world["reg"])

    with pytest.raises(service.PermissionDenied):
        service.claim(db.session, ticket, outsider)
    service.claim(db.session, ticket, me)
    assert ticket.status == "in_review" and ticket.owner_id == me.id and ticket.claimed_at
    with pytest.raises(InvalidTransition):
        service.claim(db.session, ticket, colleague)

    service.unclaim(db.session, ticket, me)
    assert ticket.status == "open" and ticket.owner_id is None

    service.assign(db.session, ticket, assignee=colleague, actor=me)
    assert ticket.owner_id == colleague.id and ticket.status == "open"
    assert [m.recipient for m in outbox("ticket_assigned")] == [colleague.email]

    service.comment(db.session, ticket, author=me, body="Checked the list.", internal=True)
    service.comment(
        db.session, ticket, author=world["p_user"], body="We met them first.", internal=False
    )
    with pytest.raises(service.PermissionDenied):
        service.comment(db.session, ticket, author=world["p_user"], body="x", internal=True)

    kinds = [(e.kind, e.visibility) for e in events(ticket)]
    assert kinds == [
        ("claimed", "public"),
        ("released", "internal"),
        ("assigned", "internal"),
        ("commented", "internal"),
        ("commented", "public"),
    ]
    for action in ("ticket.claimed", "ticket.released", "ticket.assigned", "ticket.commented"):
        assert audits(action), action


def test_other_partner_cannot_comment(world: dict[str, Any]) -> None:
    stranger = make_user("partner")
    ticket = make_ticket(world["reg"])
    with pytest.raises(service.PermissionDenied):
        service.comment(db.session, ticket, author=stranger, body="Hello there", internal=False)


RATIONALE = "Named account owned by MCS since 2024."
CONFLICT_RESOLUTIONS = ["partner_leads", "mcs_leads", "joint_engagement", "rejected"]
EXCEPTION_RESOLUTIONS = ["exception_granted", "exception_denied", "rejected"]


@pytest.mark.parametrize("party", ["partner", "mcs"])
@pytest.mark.parametrize(
    ("ticket_type", "resolution"),
    [("conflict", r) for r in CONFLICT_RESOLUTIONS]
    + [("exception", r) for r in EXCEPTION_RESOLUTIONS],
)
def test_decision_updates_the_registration(
    world: dict[str, Any], party: str, ticket_type: str, resolution: str
) -> None:
    judge = reviewer()
    author = world["p_user"] if party == "partner" else world["mcs"]
    status = "in_conflict" if ticket_type == "conflict" else "in_exception_review"
    reg = make_registration(author, status=status, district="northeast")
    rule = "NAMED_ACCOUNT" if ticket_type == "conflict" else "DOTNET_EXCEPTION"
    ticket = make_ticket(reg, type=ticket_type, rule=rule)

    with time_machine.travel(MONDAY, tick=False):
        service.decide(db.session, ticket, actor=judge, resolution=resolution, rationale=RATIONALE)

    expected = registration_status_after(resolution, party)
    assert reg.status == expected
    assert reg.decided_at == MONDAY
    if expected == "approved":
        assert reg.expires_at == MONDAY + timedelta(days=90)
    else:
        assert reg.expires_at is None
    assert ticket.status == "decided" and ticket.resolution == resolution
    assert ticket.decided_by_id == judge.id and ticket.rationale == RATIONALE
    decided = events(ticket, "decided")
    assert len(decided) == 1 and decided[0].data["resolution"] == resolution
    assert audits("ticket.decided")[0].data["resolution"] == resolution
    assert outbox("ticket_decided"), "the parties are told"
    assert author.email in {m.recipient for m in outbox("ticket_decided")}


@pytest.mark.parametrize(
    ("resolution", "partner_status", "mcs_status"),
    [
        ("partner_leads", "approved", "rejected"),
        ("mcs_leads", "rejected", "approved"),
        ("joint_engagement", "approved", "approved"),
        ("rejected", "rejected", "in_conflict"),
    ],
)
def test_mcs_versus_partner_decision_settles_both_sides(
    world: dict[str, Any], resolution: str, partner_status: str, mcs_status: str
) -> None:
    judge = reviewer()
    mcs_reg = make_registration(world["mcs"], status="in_conflict", customer_name="Contoso")
    reg = make_registration(world["p_user"], status="in_conflict", customer_name="Contoso")
    ticket = make_ticket(reg, rule="MCS_OVERLAP", other_registration_id=mcs_reg.id)
    service.decide(db.session, ticket, actor=judge, resolution=resolution, rationale=RATIONALE)
    assert (reg.status, mcs_reg.status) == (partner_status, mcs_status)


@pytest.mark.parametrize(
    ("resolution", "raised", "other"),
    [
        ("partner_leads", "approved", "rejected"),
        ("joint_engagement", "approved", "approved"),
        ("rejected", "rejected", "approved"),
    ],
)
def test_partner_versus_partner_decision_names_the_leading_registration(
    world: dict[str, Any], resolution: str, raised: str, other: str
) -> None:
    judge = reviewer()
    rival_user = make_user("partner")
    earlier = make_registration(rival_user, status="approved")
    reg = make_registration(world["p_user"], status="in_conflict")
    ticket = make_ticket(
        reg,
        rule="PARTNER_OVERLAP",
        other_registration_id=earlier.id,
        other_partner_id=rival_user.partner_id,
    )
    service.decide(db.session, ticket, actor=judge, resolution=resolution, rationale=RATIONALE)
    assert (reg.status, earlier.status) == (raised, other)


def test_partner_versus_partner_cannot_be_decided_mcs_leads(world: dict[str, Any]) -> None:
    rival_user = make_user("partner")
    earlier = make_registration(rival_user, status="approved")
    reg = make_registration(world["p_user"], status="in_conflict")
    ticket = make_ticket(
        reg,
        rule="PARTNER_OVERLAP",
        other_registration_id=earlier.id,
        other_partner_id=rival_user.partner_id,
    )
    with pytest.raises(InvalidDecision, match="partner-vs-partner"):
        service.decide(
            db.session, ticket, actor=reviewer(), resolution="mcs_leads", rationale=RATIONALE
        )
    assert (reg.status, earlier.status, ticket.status) == ("in_conflict", "approved", "open")


def test_approval_waits_for_the_registrations_other_open_ticket(world: dict[str, Any]) -> None:
    judge = reviewer()
    reg = make_registration(world["p_user"], status="in_conflict")
    first = make_ticket(reg, rule="NAMED_ACCOUNT")
    second = make_ticket(reg, rule="MCS_OVERLAP")
    service.decide(db.session, first, actor=judge, resolution="partner_leads", rationale=RATIONALE)
    assert reg.status == "in_conflict"
    service.decide(db.session, second, actor=judge, resolution="partner_leads", rationale=RATIONALE)
    assert reg.status == "approved"


def test_decision_is_validated(world: dict[str, Any]) -> None:
    judge = reviewer()
    ticket = make_ticket(world["reg"])
    with pytest.raises(InvalidDecision):
        service.decide(
            db.session, ticket, actor=judge, resolution="exception_granted", rationale=RATIONALE
        )
    with pytest.raises(InvalidDecision):
        service.decide(db.session, ticket, actor=judge, resolution="partner_leads", rationale="ok")
    service.decide(db.session, ticket, actor=judge, resolution="partner_leads", rationale=RATIONALE)
    with pytest.raises(InvalidTransition):
        service.decide(db.session, ticket, actor=judge, resolution="mcs_leads", rationale=RATIONALE)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_no_bid_override_only_at_level_three(world: dict[str, Any], level: int) -> None:
    judge = make_user("admin")
    reg = make_registration(world["mcs"], status="rejected", district="northeast")
    reg.status = "in_exception_review"
    finding = make_finding(reg, "NO_BID_DOTNET", evidence={"override_level": 3})
    ticket = service.open_ticket(db.session, registration=reg, finding=finding)
    ticket.level = level
    if level < 3:
        with pytest.raises(InvalidDecision, match="level 3"):
            service.decide(
                db.session, ticket, actor=judge, resolution="exception_granted", rationale=RATIONALE
            )
        assert ticket.status == "open"
        service.decide(
            db.session, ticket, actor=judge, resolution="exception_denied", rationale=RATIONALE
        )
        assert reg.status == "rejected"
    else:
        service.decide(
            db.session, ticket, actor=judge, resolution="exception_granted", rationale=RATIONALE
        )
        assert reg.status == "approved"


def test_level_one_reviewer_cannot_decide_an_escalated_ticket(world: dict[str, Any]) -> None:
    local = reviewer()
    ticket = make_ticket(world["reg"], level=2, region="east")
    assert service.visible_to(local, ticket) and not service.can_work(local, ticket)
    with pytest.raises(service.PermissionDenied):
        service.decide(db.session, ticket, actor=local, resolution="mcs_leads", rationale=RATIONALE)


def test_manual_escalation_moves_up_with_new_owner_and_sla(world: dict[str, Any]) -> None:
    local = reviewer()
    regional = reviewer(level=2, districts=(), region="east")
    ticket = make_ticket(world["reg"], region="east", owner_id=local.id)
    service.claim(db.session, ticket, local)
    with time_machine.travel(MONDAY, tick=False):
        service.escalate(db.session, ticket, actor=local, reason="Needs the region's call.")
    assert ticket.level == 2 and ticket.status == "open" and ticket.owner_id == regional.id
    assert ticket.escalated_at == MONDAY
    assert ticket.sla_due_at == datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # 16 business hours
    ev = events(ticket, "escalated")[0]
    assert ev.data["from_level"] == 1 and ev.data["to_level"] == 2
    assert [m.recipient for m in outbox("ticket_escalated")] == [regional.email]
    assert [h for h in audits("ticket.escalated")]


def test_escalating_a_national_ticket(world: dict[str, Any]) -> None:
    admin = make_user("admin")
    ticket = make_ticket(world["reg"], level=3)
    with pytest.raises(service.TicketError):
        service.escalate(db.session, ticket, actor=admin, reason="Nowhere to go")
    ticket.sla_due_at = datetime.now(UTC) - timedelta(hours=1)
    service.escalate(db.session, ticket, actor=None, reason="SLA ran out")
    assert ticket.breached is True and ticket.level == 3
    assert len(events(ticket, "breached")) == 1


def test_reopen_restores_review(world: dict[str, Any]) -> None:
    judge = reviewer()
    reg = make_registration(world["p_user"], status="in_conflict")
    ticket = make_ticket(reg)
    service.decide(db.session, ticket, actor=judge, resolution="mcs_leads", rationale=RATIONALE)
    assert reg.status == "rejected"
    with pytest.raises(service.TicketError):
        service.reopen(db.session, ticket, actor=judge, reason="  ")
    service.reopen(db.session, ticket, actor=judge, reason="New evidence from the customer.")
    assert ticket.status == "open" and ticket.resolution is None and ticket.decided_at is None
    assert reg.status == "in_conflict"
    ev = events(ticket, "reopened")[0]
    assert ev.data["previous"]["resolution"] == "mcs_leads"
    assert audits("ticket.reopened")


# --- permissions ---------------------------------------------------------------------------


def test_visibility_rules(world: dict[str, Any]) -> None:
    ticket = make_ticket(world["reg"], region="east", mcs_owner_email="owner@mcs.test")
    stranger = make_user("partner")
    owner_mcs = make_user("mcs", email="owner@mcs.test")
    other_mcs = make_user("mcs")
    l1 = reviewer()
    l1_far = reviewer(districts=("pacific",))
    l2 = reviewer(level=2, districts=(), region="east")
    l2_far = reviewer(level=2, districts=(), region="west")
    l3 = reviewer(level=3, districts=())
    admin = make_user("admin")
    assert service.visible_to(world["p_user"], ticket)
    assert not service.visible_to(stranger, ticket)
    assert service.visible_to(owner_mcs, ticket) and not service.visible_to(other_mcs, ticket)
    assert service.visible_to(world["mcs"], ticket) is False
    for user in (l1, l2, l3, admin):
        assert service.can_work(user, ticket), user.email
    for user in (l1_far, l2_far, world["p_user"], owner_mcs):
        assert not service.can_work(user, ticket), user.email
    ticket.owner_id = l1_far.id
    assert service.can_work(l1_far, ticket)


# --- scheduler jobs ----------------------------------------------------------------------


def test_route_exceptions_balances_and_runs_once(world: dict[str, Any]) -> None:
    a = reviewer()
    b = reviewer()
    reviewer(districts=("pacific",))
    tickets = []
    for _ in range(4):
        reg = make_registration(world["mcs"], status="in_exception_review", district="northeast")
        tickets.append(open_for(reg, "DOTNET_EXCEPTION", evidence={}))
    busy_reg = make_registration(world["p_user"])
    for _ in range(2):
        make_ticket(busy_reg, rule=f"R{_}", owner_id=a.id)

    now = datetime.now(UTC)
    assert service.route_exceptions(db.session, now) == 4
    owners = [t.owner_id for t in tickets]
    assert owners.count(b.id) == 3 and owners.count(a.id) == 1
    assert all(t.routed_at == now for t in tickets)
    assert all(len(events(t, "routed")) == 1 for t in tickets)
    assert len(outbox("exception_routed")) == 4
    assert service.route_exceptions(db.session, now) == 0


def test_warn_due_soon_once_per_level(world: dict[str, Any]) -> None:
    owner = reviewer()
    now = MONDAY
    soon = make_ticket(world["reg"], owner_id=owner.id, sla_due_at=now + timedelta(hours=2))
    later_reg = make_registration(world["p_user"])
    make_ticket(later_reg, owner_id=owner.id, sla_due_at=now + timedelta(days=3))
    assert service.warn_due_soon(db.session, now) == 1
    assert soon.sla_warned_level == 1
    assert service.warn_due_soon(db.session, now + timedelta(minutes=30)) == 0
    assert [m.recipient for m in outbox("sla_warning")] == [owner.email]
    assert len(events(soon, "sla_warning")) == 1
    # A new level earns a new warning.
    soon.level = 2
    assert service.warn_due_soon(db.session, now + timedelta(minutes=40)) == 1


def test_warn_counts_business_hours_over_the_weekend(world: dict[str, Any]) -> None:
    friday_late = datetime(2026, 3, 6, 21, 30, tzinfo=UTC)  # Fri 16:30 New York
    due = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)  # Mon 10:00: 1.5 business hours away
    ticket = make_ticket(world["reg"], sla_due_at=due)
    assert service.warn_due_soon(db.session, friday_late) == 1
    assert ticket.sla_warned_level == 1


def _sweep_world(world: dict[str, Any]) -> dict[str, Any]:
    l1 = reviewer()
    l2a = reviewer(level=2, districts=(), region="east")
    l2b = reviewer(level=2, districts=(), region="east")
    l3 = reviewer(level=3, districts=())
    now = MONDAY
    late = now - timedelta(hours=3)
    t = {}
    for name, level, due in [
        ("l1_late_a", 1, late),
        ("l1_late_b", 1, late - timedelta(hours=1)),
        ("l2_late", 2, late),
        ("l3_late", 3, late),
        ("l1_fine", 1, now + timedelta(hours=5)),
    ]:
        reg = make_registration(world["p_user"], customer_name=name)
        t[name] = make_ticket(reg, level=level, region="east", sla_due_at=due, owner_id=l1.id)
    t["l1_late_a"].status = "in_review"
    decided_reg = make_registration(world["p_user"])
    t["decided"] = make_ticket(
        decided_reg,
        status="decided",
        resolution="rejected",
        rationale=RATIONALE,
        decided_at=late,
        sla_due_at=late,
    )
    db.session.add(WebhookEndpoint(url="https://hooks.example.com/x", secret="s" * 20))
    db.session.commit()
    return {"now": now, "late": late, "l2": {l2a.id, l2b.id}, "l3": l3.id, "tickets": t}


def test_escalate_overdue_is_set_based_and_fires_once(world: dict[str, Any]) -> None:
    setup = _sweep_world(world)
    now = setup["now"]
    with time_machine.travel(now, tick=False):
        assert service.escalate_overdue(db.session, now) == 4
        db.session.commit()
        # A second sweep, even later, finds nothing new: each level fires once.
        assert service.escalate_overdue(db.session, now + timedelta(minutes=5)) == 0
        db.session.commit()

    t = {k: db.session.get(Ticket, v.id) for k, v in setup["tickets"].items()}
    assert (t["l1_late_a"].level, t["l1_late_a"].status) == (2, "open")
    assert t["l1_late_a"].claimed_at is None
    assert t["l1_late_b"].level == 2 and t["l2_late"].level == 3
    assert t["l3_late"].level == 3 and t["l3_late"].breached is True
    assert t["l1_fine"].level == 1 and t["decided"].level == 1
    # New owners come from the next level, spread over the regional reviewers.
    assert {t["l1_late_a"].owner_id, t["l1_late_b"].owner_id} == setup["l2"]
    assert t["l2_late"].owner_id == setup["l3"]
    # New SLA: 16 business hours from now (Mon 10:00 New York -> Wed 10:00).
    assert t["l1_late_a"].sla_due_at == datetime(2026, 3, 4, 15, 0, tzinfo=UTC)
    assert t["l2_late"].sla_due_at == datetime(2026, 3, 5, 15, 0, tzinfo=UTC)  # 24 h at level 3
    assert t["l1_late_a"].escalated_at == now

    ev = events(t["l1_late_b"], "escalated")
    assert len(ev) == 1
    assert ev[0].data["from_level"] == 1 and ev[0].data["to_level"] == 2
    assert ev[0].data["overdue_seconds"] == 4 * 3600
    assert ev[0].created_at == now
    assert len(events(t["l3_late"], "breached")) == 1
    assert events(t["l3_late"], "escalated") == []
    # One fan-out row for the endpoint, which the webhook job turns into a message per ticket.
    (fan,) = outbox(channel="webhook")
    assert (fan.status, fan.event) == ("fanout", "ticket.escalated")
    assert fanout.expand_fanouts(db.session, now) == 3
    db.session.commit()
    hooks = outbox(channel="webhook")
    assert {h.status for h in hooks} == {"pending"}
    by_ticket = {h.context["data"]["ticket_id"]: h for h in hooks}
    assert sorted(by_ticket) == sorted(t[k].id for k in ("l1_late_a", "l1_late_b", "l2_late"))
    assert len({h.message_id for h in hooks}) == len(hooks)
    assert by_ticket[t["l2_late"].id].context == {
        "type": "ticket.escalated",
        "data": {
            "ticket_id": t["l2_late"].id,
            "type": "conflict",
            "status": "open",
            "level": 3,
            "from_level": 2,
            "district": t["l2_late"].district,
            "sla_due_at": "2026-03-05T15:00:00+00:00",
        },
    }
    assert all(h.created_at == now for h in hooks)
    summaries = outbox("ticket_escalated")
    escalated_to = {m.recipient_user_id for m in summaries if m.event == "ticket.escalated"}
    assert escalated_to == setup["l2"] | {setup["l3"]}
    breach_mail = [m for m in summaries if m.event == "ticket.breached"]
    assert [m.recipient_user_id for m in breach_mail] == [t["l3_late"].owner_id]
    sweep_audit = audits("tickets.escalate_overdue")
    assert len(sweep_audit) == 1 and sweep_audit[0].data["escalated"] == 3

    # Once the new level's SLA runs out too, the ticket moves again (and only then); by now
    # the ticket that was fine has run out as well.
    later = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)
    assert service.escalate_overdue(db.session, later) == 3
    db.session.commit()
    assert db.session.get(Ticket, t["l1_late_a"].id).level == 3
    again = datetime(2026, 3, 20, 16, 0, tzinfo=UTC)
    service.escalate_overdue(db.session, again)
    db.session.commit()
    service.escalate_overdue(db.session, again + timedelta(hours=1))
    db.session.commit()
    assert len(events(t["l1_late_a"], "breached")) == 1
    assert len(events(t["l3_late"], "breached")) == 1


def test_escalate_overdue_keeps_gold_tickets_with_the_coordinator(world: dict[str, Any]) -> None:
    reviewer(level=2, districts=(), region="east")
    coordinator = reviewer(level=1, districts=("pacific",))
    gold = make_partner("Gold Co", points=150, technical_coordinator_id=coordinator.id)
    user = make_user("partner", partner_id=gold.id)
    reg = make_registration(user, district="northeast")
    ticket = make_ticket(reg, region="east", sla_due_at=MONDAY - timedelta(hours=1))
    db.session.commit()
    assert service.escalate_overdue(db.session, MONDAY) == 1
    db.session.commit()
    ticket = db.session.get(Ticket, ticket.id)
    assert ticket.level == 2 and ticket.owner_id == coordinator.id


@pytest.mark.postgres
def test_concurrent_sweeps_escalate_each_ticket_once(app: Flask, world: dict[str, Any]) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    setup = _sweep_world(world)
    now = setup["now"]
    other = sa.orm.Session(db.engine)
    try:
        # The first sweep holds its row locks (uncommitted) while the second runs.
        assert service.escalate_overdue(db.session, now) == 4
        assert service.escalate_overdue(other, now) == 0
        db.session.commit()
        other.commit()
    finally:
        other.close()
    counts = db.session.execute(
        sa.select(TicketEvent.kind, sa.func.count()).group_by(TicketEvent.kind)
    ).all()
    assert dict(counts) == {"escalated": 3, "breached": 1}
