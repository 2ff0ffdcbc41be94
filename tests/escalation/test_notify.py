"""The outbox around delivery: digests, held messages and the admin outbox page."""

from datetime import timedelta

import sqlalchemy as sa
import time_machine
from flask import Flask

from escalation.jobs import run_job
from escalation.notify import enqueue_email, send_digests
from models import OutboxMessage, User, utcnow
from models.db import db
from tests.escalation.test_mailer import SmtpServer, smtp  # noqa: F401  fixture
from tests.escalation.test_webhooks import admin_client
from tests.factories import make_user, post_form


def notify(user: User, n: int, template: str = "ticket_assigned") -> list[OutboxMessage]:
    """Queue n e-mails to a user and commit."""
    msgs = []
    for i in range(n):
        msg = enqueue_email(
            db.session,
            event="ticket.assigned",
            template=template,
            subject=f"Ticket {i} <assigned>",
            context={
                "headline": f"Ticket {i} is yours",
                "lines": [f"Comment {i}: <check the domain>"],
                "url": f"http://localhost/tickets/{i}",
            },
            user=user,
        )
        assert msg is not None
        msgs.append(msg)
    db.session.commit()
    return msgs


def by_status() -> dict[str, list[OutboxMessage]]:
    """Group every outbox row by status, read afresh."""
    db.session.rollback()
    out: dict[str, list[OutboxMessage]] = {}
    for row in db.session.execute(sa.select(OutboxMessage).order_by(OutboxMessage.id)).scalars():
        out.setdefault(row.status, []).append(row)
    return out


def test_digest_bundles_held_messages_once(ctx: Flask, smtp: SmtpServer) -> None:  # noqa: F811
    reader = make_user("reviewer", notify_mode="digest")
    other = make_user("reviewer", notify_mode="digest")
    eager = make_user("reviewer")
    held = notify(reader, 3)
    notify(other, 1)
    notify(eager, 1)
    assert {m.status for m in held} == {"held"}

    first = run_job(ctx, "send_digests")
    second = run_job(ctx, "send_digests")
    assert (first.error, first.items, second.items) == (None, 2, 0)

    rows = by_status()
    digests = [r for r in rows["pending"] if r.template == "digest"]
    assert sorted(d.recipient for d in digests) == sorted([reader.email, other.email])
    digest = next(d for d in digests if d.recipient == reader.email)
    assert [i["subject"] for i in digest.context["items"]] == [m.subject for m in held]
    assert digest.context["count"] == 3
    bundled = [r for r in rows["sent"] if r.recipient == reader.email]
    assert len(bundled) == 3
    assert all(r.context["digest_message_id"] == digest.message_id for r in bundled)
    assert all(r.sent_at is not None and r.last_error is None for r in bundled)
    assert "held" not in rows

    assert run_job(ctx, "deliver_outbox").items == 3  # two digests and the eager reviewer's mail
    mail = {str(m["To"]): m for m in smtp.handler.messages}
    html = mail[reader.email].get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = mail[reader.email].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Ticket 0 &lt;assigned&gt;" in html and 'href="http://localhost/tickets/2"' in html
    assert "Ticket 2 <assigned>" in text and "Ticket 2 is yours" in text
    # What each message said, not only its heading; escaped in the HTML part.
    assert "Comment 1: <check the domain>" in text
    assert "Comment 1: &lt;check the domain&gt;" in html
    assert "Profile page" in text and "ask your program" not in text
    assert mail[reader.email]["Subject"] == "ChannelGuard daily digest: 3 updates"


def test_next_digest_waits_a_day(ctx: Flask) -> None:
    reader = make_user("reviewer", notify_mode="digest")
    notify(reader, 1)
    start = utcnow()
    assert send_digests(db.session, start) == 1
    db.session.commit()
    notify(reader, 2)
    # A restart later the same day must not send a second digest ...
    assert send_digests(db.session, start + timedelta(hours=6)) == 0
    db.session.commit()
    assert len(by_status()["held"]) == 2
    # ... the next day's run does.
    with time_machine.travel(start + timedelta(days=1)):
        assert run_job(ctx, "send_digests").items == 1
    assert "held" not in by_status()


def test_held_messages_are_released_when_the_reader_switches_back(ctx: Flask) -> None:
    reader = make_user("reviewer", notify_mode="digest")
    gone = make_user("reviewer", notify_mode="digest")
    notify(reader, 2)
    notify(gone, 1)
    reader.notify_mode = "immediate"
    gone.is_active = False
    db.session.commit()

    assert send_digests(db.session, utcnow()) == 0
    db.session.commit()

    rows = by_status()
    assert [r.recipient for r in rows["pending"]] == [reader.email, reader.email]
    (dead,) = rows["dead"]
    assert dead.recipient == gone.email and dead.last_error == "recipient account is inactive"


def test_outbox_page_lists_by_status_and_retries_dead(app: Flask) -> None:
    with app.app_context():
        user = make_user("reviewer")
        db.session.flush()
        sent, dead, pending = notify(user, 3)
        sent.status, sent.sent_at = "sent", utcnow()
        dead.status, dead.attempts, dead.last_error = "dead", 4, "550 5.1.1 No such user <x>"
        db.session.commit()
        dead_id, pending_id = dead.id, pending.id
        db.session.remove()
    client = admin_client(app)

    page = client.get("/admin/outbox?status=dead")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "550 5.1.1 No such user &lt;x&gt;" in body
    assert f"/admin/outbox/{dead_id}/retry" in body
    assert 'Dead <span class="muted">(1)</span>' in body
    assert 'Sent <span class="muted">(1)</span>' in body
    assert client.get("/admin/outbox?status=bogus").status_code == 404
    pending_page = client.get("/admin/outbox").get_data(as_text=True)
    assert "Ticket 2 &lt;assigned&gt;" in pending_page and "/retry" not in pending_page

    # CSRF is required.
    assert client.post(f"/admin/outbox/{dead_id}/retry").status_code == 400
    resp = post_form(
        client, "/admin/outbox?status=dead", {}, action=f"/admin/outbox/{dead_id}/retry"
    )
    assert resp.status_code == 302
    # Only dead messages can be retried.
    post_form(client, "/admin/outbox", {}, action=f"/admin/outbox/{pending_id}/retry")

    with app.app_context():
        row = db.session.get(OutboxMessage, dead_id)
        assert row is not None
        assert row.status == "pending" and row.attempts == 0
        assert row.next_attempt_at <= utcnow()
        untouched = db.session.get(OutboxMessage, pending_id)
        assert untouched is not None and untouched.status == "pending"
        db.session.remove()


def test_outbox_page_paginates(app: Flask) -> None:
    with app.app_context():
        notify(make_user("reviewer"), 55)
        db.session.remove()
    client = admin_client(app)
    first = client.get("/admin/outbox").get_data(as_text=True)
    assert "Ticket 54 &lt;assigned&gt;" in first and "Ticket 4 &lt;assigned&gt;" not in first
    assert 'rel="next"' in first
    start = first.index('href="/admin/outbox?status=pending&amp;before=')
    link = first[start + 6 : first.index('"', start + 6)].replace("&amp;", "&")
    second = client.get(link).get_data(as_text=True)
    assert "Ticket 4 &lt;assigned&gt;" in second and "Ticket 54 &lt;assigned&gt;" not in second
