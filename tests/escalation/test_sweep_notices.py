"""Who hears of what the SLA sweep did when a ticket's owner is missing or disabled."""

from datetime import timedelta
from typing import Any

import pytest

from escalation import service, sweep
from escalation.mailer import render_bodies
from models import OutboxMessage, Ticket, User
from models.db import db
from tests.escalation.test_service import MONDAY, outbox, reviewer
from tests.factories import make_registration, make_ticket


def overdue_ticket(world: dict[str, Any], level: int, owner: User | None, **kw: Any) -> Ticket:
    """Create an open ticket in the East region whose SLA ran out an hour before MONDAY."""
    reg = make_registration(world["p_user"], district="northeast")
    return make_ticket(
        reg,
        level=level,
        region="east",
        owner_id=owner.id if owner is not None else None,
        sla_due_at=MONDAY - timedelta(hours=1),
        **kw,
    )


def mail_of(event: str) -> dict[int | None, OutboxMessage]:
    """Return the sweep's summary e-mails of one event by recipient (one each, checked)."""
    rows = [m for m in outbox("ticket_escalated") if m.event == event]
    by_user = {m.recipient_user_id: m for m in rows}
    assert len(by_user) == len(rows), "someone got two summaries of one kind"
    return by_user


@pytest.mark.parametrize("owner_state", ["disabled", "none"])
def test_a_breach_without_an_active_owner_goes_to_the_national_reviewers(
    world: dict[str, Any], owner_state: str
) -> None:
    owner = reviewer(level=3, districts=())
    national = reviewer(level=3, districts=())
    other_national = reviewer(level=3, districts=())
    regional = reviewer(level=2, districts=(), region="east")  # not at the ticket's level
    reviewer(level=3, districts=(), is_active=False)
    ticket = overdue_ticket(world, 3, owner if owner_state == "disabled" else None)
    owner.is_active = False
    db.session.commit()

    assert service.escalate_overdue(db.session, MONDAY) == 1
    db.session.commit()

    mail = mail_of("ticket.breached")
    assert set(mail) == {national.id, other_national.id}
    assert regional.id not in mail and owner.id not in mail
    first = mail[national.id]
    assert first.subject == "[ChannelGuard] 1 unowned ticket(s) breached the national SLA"
    assert first.context["headline"] == (
        "1 ticket(s) in your territory with no active owner ran past the national (level 3) SLA."
    )
    assert first.context["lines"] == [f"Tickets: #{ticket.id}."]
    assert first.context["ticket_id"] == ticket.id
    assert first.context["url"] == f"http://localhost/tickets/{ticket.id}"
    assert first.status == "pending"

    # The ticket is breached once, so a second run tells nobody again.
    assert service.escalate_overdue(db.session, MONDAY + timedelta(hours=1)) == 0
    db.session.commit()
    assert len(outbox("ticket_escalated")) == 2


def test_owned_and_unowned_tickets_come_in_one_summary(world: dict[str, Any]) -> None:
    national = reviewer(level=3, districts=())
    gone = reviewer(level=3, districts=(), is_active=False)
    mine = overdue_ticket(world, 3, national)
    orphans = [overdue_ticket(world, 3, gone), overdue_ticket(world, 3, None)]
    db.session.commit()

    assert service.escalate_overdue(db.session, MONDAY) == 3
    db.session.commit()

    (only,) = mail_of("ticket.breached").values()
    assert only.recipient_user_id == national.id
    assert only.subject == "[ChannelGuard] 1 ticket(s) breached the national SLA"
    assert only.context["headline"] == "1 ticket(s) you own ran past the national (level 3) SLA."
    ids = sorted(t.id for t in orphans)
    assert only.context["lines"] == [
        f"Tickets: #{mine.id}.",
        f"Also in your territory, with no active owner: #{ids[0]}, #{ids[1]}.",
    ]
    assert only.context["ticket_id"] is None and only.context["url"] == "http://localhost/queue"


def test_a_breach_under_an_active_owner_still_goes_to_the_owner_alone(
    world: dict[str, Any],
) -> None:
    owner = reviewer(level=1)
    reviewer(level=3, districts=())
    overdue_ticket(world, 3, owner)
    db.session.commit()

    service.escalate_overdue(db.session, MONDAY)
    db.session.commit()

    assert set(mail_of("ticket.breached")) == {owner.id}


def test_a_ticket_escalated_without_an_owner_is_announced_to_its_new_level(
    world: dict[str, Any],
) -> None:
    # The sweep leaves a ticket without an owner when nobody could own it as it planned; a
    # reviewer covering the new level by the time the e-mails are written hears of it.
    east = reviewer(level=2, districts=(), region="east")
    reviewer(level=2, districts=(), region="west")
    reviewer(level=1)  # the level the ticket left
    ticket = overdue_ticket(world, 2, None)
    db.session.commit()

    sweep._summary_emails(
        db.session, {None: [ticket.id]}, event=sweep.EVENT, wording=sweep.ESCALATED
    )
    db.session.commit()

    (only,) = mail_of(sweep.EVENT).values()
    assert only.recipient_user_id == east.id
    assert only.subject == "[ChannelGuard] 1 unowned ticket(s) escalated to your level"
    assert only.context["lines"] == [f"Tickets: #{ticket.id}."]


def test_escalation_past_a_disabled_owner_reaches_the_new_owner(world: dict[str, Any]) -> None:
    gone = reviewer(level=1, is_active=False)
    regional = reviewer(level=2, districts=(), region="east")
    ticket = overdue_ticket(world, 1, gone)
    db.session.commit()

    assert service.escalate_overdue(db.session, MONDAY) == 1
    db.session.commit()

    moved = db.session.get(Ticket, ticket.id)
    assert moved is not None and (moved.level, moved.owner_id) == (2, regional.id)
    assert set(mail_of(sweep.EVENT)) == {regional.id}


def test_a_breach_notice_says_it_is_a_breach_not_an_escalation(world: dict[str, Any]) -> None:
    owner = reviewer(level=1)
    overdue_ticket(world, 3, owner)
    db.session.commit()

    service.escalate_overdue(db.session, MONDAY)
    db.session.commit()

    (message,) = outbox("ticket_escalated")
    text, page = render_bodies(message.template, message.subject, message.context)
    for body in (text, page):
        assert "ran past its national (level 3) response time" in body
        assert "was escalated" not in body
