"""Tickets with nothing left to decide close; decisions and comments tell each side its part."""

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from conflict.service import withdraw_registration
from escalation import service
from models import OutboxMessage, Registration, Ticket, User, WebhookEndpoint, utcnow
from models.db import db
from tests.escalation.test_service import (
    RATIONALE,
    audits,
    events,
    make_finding,
    open_for,
    outbox,
    reviewer,
)
from tests.factories import make_partner, make_registration, make_ticket, make_user


def _pair(world: dict[str, Any]) -> tuple[Registration, Registration, Ticket, User]:
    """Return a partner-vs-partner ticket: the raising registration, the rival's, the ticket."""
    rival = make_user("partner")
    earlier = make_registration(rival, customer_name="Contoso", status="approved")
    reg = world["reg"]
    reg.status = "in_conflict"
    ticket = make_ticket(
        reg,
        rule="PARTNER_OVERLAP",
        other_registration_id=earlier.id,
        other_partner_id=rival.partner_id,
    )
    return reg, earlier, ticket, rival


def _mail_to(user: User, template: str) -> list[OutboxMessage]:
    return [m for m in outbox(template) if m.recipient == user.email]


# --- withdrawal ------------------------------------------------------------------------------


def test_withdrawing_closes_the_ticket_and_lets_the_other_side_go_ahead(
    world: dict[str, Any],
) -> None:
    mcs_reg = make_registration(world["mcs"], party="mcs", status="in_conflict")
    reg = world["reg"]
    ticket = make_ticket(
        mcs_reg, rule="MCS_OVERLAP", other_registration_id=reg.id, mcs_owner_email="x@mcs.test"
    )

    withdraw_registration(db.session, reg, user=world["p_user"], reason="Customer chose MCS")

    assert ticket.status == "decided" and ticket.resolution == "no_conflict"
    assert ticket.rationale == (
        "The other registration on this ticket was withdrawn; nothing is left to decide."
    )
    assert "Customer chose MCS" not in ticket.rationale
    assert reg.status == "withdrawn"
    assert mcs_reg.status == "approved" and mcs_reg.expires_at is not None
    decided = events(ticket, "decided")
    assert [e.data["registrations"] for e in decided] == [{str(mcs_reg.id): "approved"}]
    assert audits("ticket.decided")[0].data["resolution"] == "no_conflict"
    told = _mail_to(world["mcs"], "ticket_decided")
    assert told and f"Your registration #{mcs_reg.id}" in " ".join(told[0].context["lines"])
    assert "is now approved" in " ".join(told[0].context["lines"])


def test_a_closed_ticket_no_longer_escalates(world: dict[str, Any]) -> None:
    reviewer()
    ticket = open_for(world["reg"])
    withdraw_registration(db.session, world["reg"], user=world["p_user"], reason="Lost the deal")
    assert ticket.status == "decided"
    later = (ticket.sla_due_at or utcnow()) + timedelta(days=30)
    assert service.escalate_overdue(db.session, later) == 0
    assert ticket.level == 1 and not ticket.breached


def test_a_ticket_closed_without_conflict_cannot_be_reopened(world: dict[str, Any]) -> None:
    judge = reviewer()
    ticket = open_for(world["reg"])
    withdraw_registration(db.session, world["reg"], user=world["p_user"], reason="Lost the deal")
    with pytest.raises(service.TicketError, match="no conflict is left"):
        service.reopen(db.session, ticket, actor=judge, reason="Try again")


def test_withdrawal_in_a_partner_pair_keeps_the_reason_from_the_rival(
    world: dict[str, Any],
) -> None:
    reg, earlier, ticket, rival = _pair(world)
    withdraw_registration(db.session, earlier, user=rival, reason="Secret pricing reasons")
    assert ticket.resolution == "no_conflict" and reg.status == "approved"
    for message in outbox():
        assert "Secret pricing" not in str(message.context)
    raised_side = _mail_to(world["p_user"], "ticket_decided")
    assert "is now approved" in " ".join(raised_side[0].context["lines"])
    assert raised_side[0].context["registration_id"] == reg.id


# --- released findings -----------------------------------------------------------------------


def test_a_ticket_whose_findings_are_all_released_closes(world: dict[str, Any]) -> None:
    reviewer()
    world["reg"].status = "in_conflict"
    ticket = open_for(world["reg"])
    finding = db.session.execute(
        sa.select(service.ConflictFinding).where(service.ConflictFinding.ticket_id == ticket.id)
    ).scalar_one()
    service.release_finding(db.session, finding, reason="The new list no longer names it.")
    assert ticket.status == "decided" and ticket.resolution == "no_conflict"
    assert ticket.rationale == "A re-check found no conflict left: The new list no longer names it."
    assert world["reg"].status == "approved"


def test_a_ticket_with_a_finding_still_holding_stays_open(world: dict[str, Any]) -> None:
    reviewer()
    world["reg"].status = "in_conflict"
    ticket = open_for(world["reg"])
    second = make_finding(world["reg"], "NAMED_ACCOUNT", ticket_id=ticket.id)
    first = db.session.execute(
        sa.select(service.ConflictFinding).where(
            service.ConflictFinding.ticket_id == ticket.id,
            service.ConflictFinding.id != second.id,
        )
    ).scalar_one()
    service.release_finding(db.session, first, reason="No longer named.")
    assert ticket.status == "open" and world["reg"].status != "approved"


# --- decisions tell each side its own part ---------------------------------------------------


def test_a_partner_pair_decision_tells_each_partner_what_happened_to_theirs(
    world: dict[str, Any],
) -> None:
    reg, earlier, ticket, rival = _pair(world)
    service.decide(
        db.session, ticket, actor=reviewer(), resolution="partner_leads", rationale=RATIONALE
    )
    assert (reg.status, earlier.status) == ("approved", "rejected")
    mine = " ".join(_mail_to(world["p_user"], "ticket_decided")[0].context["lines"])
    theirs_msg = _mail_to(rival, "ticket_decided")[0]
    theirs = " ".join(theirs_msg.context["lines"])
    assert f"Your registration #{reg.id} for Contoso is now approved." in mine
    assert f"Your registration #{earlier.id} for Contoso is now rejected." in theirs
    # Neither side reads the other's registration number.
    assert str(reg.id) not in theirs and theirs_msg.context["registration_id"] == earlier.id
    assert theirs_msg.context["headline"] == (
        f"Ticket #{ticket.id} was decided: "
        "the other partner's registration leads; yours stands down."
    )
    mine_msg = _mail_to(world["p_user"], "ticket_decided")[0]
    assert mine_msg.context["headline"] == (
        f"Ticket #{ticket.id} was decided: "
        "your registration leads; the other partner's stands down."
    )


def test_reopening_forgets_the_old_expiry(world: dict[str, Any]) -> None:
    judge = reviewer()
    world["reg"].status = "in_conflict"
    ticket = open_for(world["reg"])
    service.decide(db.session, ticket, actor=judge, resolution="partner_leads", rationale=RATIONALE)
    assert world["reg"].expires_at is not None
    service.reopen(db.session, ticket, actor=judge, reason="New facts came in")
    assert world["reg"].status == "in_conflict" and world["reg"].expires_at is None


# --- comments --------------------------------------------------------------------------------


def test_a_partner_comment_tells_the_owner_and_fires_a_webhook(world: dict[str, Any]) -> None:
    owner = reviewer()
    db.session.add(WebhookEndpoint(url="https://hooks.example.com/x", secret="s" * 20))
    db.session.flush()
    ticket = open_for(world["reg"])
    assert ticket.owner_id == owner.id
    service.comment(db.session, ticket, author=world["p_user"], body="Any news?", internal=False)
    told = outbox("ticket_commented")
    assert {m.recipient for m in told} >= {owner.email, world["p_user2"].email}
    assert world["p_user"].email not in {m.recipient for m in told}
    assert told[0].context["lines"] == ["Any news?"]
    hooks = (
        db.session.execute(
            sa.select(OutboxMessage).where(
                OutboxMessage.event == "ticket.commented", OutboxMessage.channel != "email"
            )
        )
        .scalars()
        .all()
    )
    assert len(hooks) == 1


def test_an_internal_note_tells_only_the_owner(world: dict[str, Any]) -> None:
    owner = reviewer()
    colleague = reviewer()
    ticket = open_for(world["reg"])
    author = colleague if ticket.owner_id == owner.id else owner
    service.comment(db.session, ticket, author=author, body="Check pricing", internal=True)
    told = {m.recipient for m in outbox("ticket_commented")}
    assert told == {db.session.get(User, ticket.owner_id).email}  # type: ignore[union-attr]


def test_a_list_that_drops_the_account_closes_its_ticket(
    ctx: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conflict import lists
    from tests.conflict.test_lists import BASE_ROWS, csv_bytes, districts, publish_rows

    monkeypatch.setattr(lists, "RECHECK_TARGET", "conflict.service:recheck_open_registrations")
    districts()
    reviewer()
    publish_rows(BASE_ROWS[:1])
    partner = make_user("partner", partner_id=make_partner(district="northeast").id)
    reg = make_registration(partner, customer_name="Fabrikam, Inc.", district="northeast")
    named = lists.import_list(db.session, csv_bytes(BASE_ROWS[:2]), actor_id=None).version
    assert named is not None
    lists.publish(db.session, named, effective_from=utcnow().date(), actor_id=None)
    ticket = db.session.execute(
        sa.select(Ticket).where(Ticket.registration_id == reg.id)
    ).scalar_one()
    assert reg.status == "in_conflict" and ticket.status == "open"

    dropped = lists.import_list(db.session, csv_bytes(BASE_ROWS[:1]), actor_id=None).version
    assert dropped is not None
    lists.publish(db.session, dropped, effective_from=utcnow().date(), actor_id=None)
    db.session.commit()

    assert ticket.status == "decided" and ticket.resolution == "no_conflict"
    assert reg.status == "approved"
    assert [e.kind for e in events(ticket)][-2:] == ["finding_released", "decided"]


# --- registrations that leave the running by expiry or rejection -----------------------------


def test_an_expired_leader_closes_the_ticket_and_lets_the_newcomer_go_ahead(
    world: dict[str, Any],
) -> None:
    from conflict.registrations import expire_registrations

    reg, earlier, ticket, _rival = _pair(world)
    earlier.expires_at = utcnow() - timedelta(hours=1)
    db.session.flush()
    assert expire_registrations(db.session, utcnow()) >= 1
    assert earlier.status == "expired"
    assert ticket.status == "decided" and ticket.resolution == "no_conflict"
    assert ticket.rationale == (
        "The other registration on this ticket expired; nothing is left to decide."
    )
    assert reg.status == "approved"


def test_a_rejection_closes_the_rejected_registrations_other_tickets(
    world: dict[str, Any],
) -> None:
    judge = reviewer()
    reg = world["reg"]
    reg.status = "in_conflict"
    named = make_ticket(reg, rule="NAMED_ACCOUNT")
    overlap = make_ticket(reg, rule="MCS_OVERLAP")
    service.decide(db.session, named, actor=judge, resolution="mcs_leads", rationale=RATIONALE)
    assert reg.status == "rejected"
    assert overlap.status == "decided" and overlap.resolution == "no_conflict"
    assert "was rejected" in (overlap.rationale or "")


def test_a_released_ticket_points_to_the_ticket_that_carries_on(world: dict[str, Any]) -> None:
    reviewer()
    reg = world["reg"]
    reg.status = "in_conflict"
    ticket = open_for(reg, "NEEDS_REVIEW")
    carrying = make_ticket(reg, rule="NAMED_ACCOUNT")
    finding = db.session.execute(
        sa.select(service.ConflictFinding).where(service.ConflictFinding.ticket_id == ticket.id)
    ).scalar_one()
    service.release_finding(db.session, finding, reason="The new list names it exactly.")
    assert ticket.status == "decided" and ticket.resolution == "no_conflict"
    assert f"carries on in ticket #{carrying.id}" in (ticket.rationale or "")
    assert reg.status == "in_conflict" and carrying.status == "open"
    headlines = {m.context["headline"] for m in outbox("ticket_decided")}
    assert f"Ticket #{ticket.id} was closed: the conflict carries on in ticket #{carrying.id}." in (
        headlines
    )
