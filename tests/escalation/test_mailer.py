"""E-mail delivery against a real SMTP server on loopback (aiosmtpd): templates, retries,
dead letters, crash recovery and concurrent workers."""

import email
import email.policy
import shutil
import socket
import ssl
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from aiosmtpd.controller import Controller
from flask import Flask

from escalation import claims, mailer
from escalation.jobs import run_job
from escalation.notify import EMAIL_TEMPLATES, enqueue_email
from models import JobRun, OutboxMessage, utcnow
from models.db import db

RICH_CONTEXT: dict[str, Any] = {
    "headline": 'Contoso <b>"Ltd"</b> & Co matches a named account',
    "lines": ["First line <script>alert(1)</script>", "Second line & more"],
    "url": "http://localhost/tickets/7",
    "ticket_id": 7,
    "registration_id": 11,
    "customer_name": "Contoso & Co",
    "rule": "NAMED_ACCOUNT",
    "level": 2,
    "resolution": "partner_leads",
    "due_at": "2026-03-02T15:00:00+00:00",
    "items": [
        {"subject": "Ticket <7>", "headline": "Opened", "url": "http://localhost/tickets/7"},
        {"subject": "Ticket 8", "headline": "Decided", "url": "javascript:alert(1)"},
    ],
}


class Recorder:
    """An aiosmtpd handler that records messages and answers RCPT as told."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.reply: str | None = None  # None accepts; "451 ..." or "550 ..." refuses
        self.per_recipient: dict[str, str] = {}
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        """Accept or refuse one recipient."""
        reply = self.per_recipient.get(address, self.reply)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message."""
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(msg)  # type: ignore[arg-type]
        return "250 Message accepted"

    def ids(self) -> list[str]:
        """Return the Message-IDs received, in order."""
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


class SmtpServer:
    """A loopback SMTP server that can be stopped and started on the same port."""

    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.handler = Recorder()
        self.controller: Controller | None = None

    def start(self) -> None:
        """Listen on the port."""
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        """Stop listening (connections are then refused)."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture()
def smtp(app: Flask) -> Iterator[SmtpServer]:
    """Run an SMTP server on loopback and point the app at it."""
    server = SmtpServer()
    server.start()
    saved = app.config["SMTP_PORT"], app.config["SMTP_TIMEOUT"]
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_TIMEOUT=5)
    try:
        yield server
    finally:
        server.stop()
        app.config["SMTP_PORT"], app.config["SMTP_TIMEOUT"] = saved


def queue(n: int = 1, template: str = "conflict_opened", **kw: Any) -> list[OutboxMessage]:
    """Queue n e-mails to distinct addresses and commit."""
    rows = []
    for i in range(n):
        msg = enqueue_email(
            db.session,
            event="test",
            template=template,
            subject=kw.get("subject", f"Message {i}"),
            context=kw.get("context", RICH_CONTEXT),
            email=kw.get("email", f"person{i}@example.com"),
        )
        assert msg is not None
        rows.append(msg)
    db.session.commit()
    return rows


def outbox() -> list[OutboxMessage]:
    """Read every outbox row afresh (ending any open snapshot first)."""
    db.session.rollback()
    return list(db.session.execute(sa.select(OutboxMessage).order_by(OutboxMessage.id)).scalars())


def deliver(app: Flask) -> JobRun:
    """Run the delivery job once."""
    return run_job(app, "deliver_outbox")


def test_every_template_is_sent_with_text_html_and_message_id(ctx: Flask, smtp: SmtpServer) -> None:
    rows = [
        queue(1, template=t, subject=f"Subject {t}", email=f"{t}@example.com")[0]
        for t in EMAIL_TEMPLATES
    ]
    expected = {r.message_id: r.template for r in rows}

    run = deliver(ctx)

    assert run.error is None and run.items == len(EMAIL_TEMPLATES)
    received = {str(m["Message-ID"]): m for m in smtp.handler.messages}
    assert set(received) == set(expected)
    for message_id, template in expected.items():
        msg = received[message_id]
        assert msg["Subject"] == f"Subject {template}"
        assert msg["To"] == f"{template}@example.com"
        assert msg.get_content_type() == "multipart/alternative"
        text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
        assert RICH_CONTEXT["headline"] in text
        assert "Contoso &lt;b&gt;&#34;Ltd&#34;&lt;/b&gt; &amp; Co" in html
        assert "<script>" not in html and "&lt;script&gt;" in html
        assert "http://localhost/tickets/7" in text and 'href="http://localhost/tickets/7"' in html
        assert "javascript:" not in html
        assert "sent automatically" in text
    assert "Ticket &lt;7&gt;" in received[rows[-1].message_id].get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert all(r.status == "sent" and r.sent_at is not None for r in outbox())


def test_template_specific_touches(ctx: Flask, smtp: SmtpServer) -> None:
    queue(1, template="expiry_reminder", email="a@example.com")
    queue(1, template="ticket_decided", email="b@example.com")
    deliver(ctx)
    bodies = {
        str(m["To"]): m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for m in smtp.handler.messages
    }
    assert "It expires on 2026-03-02 15:00 UTC" in bodies["a@example.com"]
    assert "A decision was recorded: Partner leads." in bodies["b@example.com"]
    assert "Level: 2 (region)" in bodies["b@example.com"]


def test_header_injection_is_flattened(ctx: Flask, smtp: SmtpServer) -> None:
    queue(1, subject="Hello\r\nBcc: victim@example.com")
    deliver(ctx)
    (msg,) = smtp.handler.messages
    assert msg["Subject"] == "Hello Bcc: victim@example.com"
    assert msg["Bcc"] is None


def test_outage_then_451_then_delivery_loses_nothing(ctx: Flask, smtp: SmtpServer) -> None:
    rows = queue(3)
    ids = {r.message_id for r in rows}
    smtp.stop()

    start = utcnow()
    run = deliver(ctx)
    assert run.error is None and run.items == 0
    for row in outbox():
        assert row.status == "pending" and row.attempts == 1
        assert "SMTP unavailable" in (row.last_error or "")
        # 1 minute, with up to 10% jitter either way.
        assert (
            start + timedelta(seconds=50) <= row.next_attempt_at <= utcnow() + timedelta(seconds=70)
        )

    smtp.handler.reply = "451 4.3.0 Mailbox busy, try later"
    smtp.start()
    run = deliver(ctx)  # nothing is due yet: backoff is honoured
    assert run.items == 0 and all(r.attempts == 1 for r in outbox())

    with time_machine.travel(utcnow() + timedelta(minutes=2)):
        run = deliver(ctx)
        later = utcnow()
    assert run.items == 0
    for row in outbox():
        assert row.status == "pending" and row.attempts == 2
        assert (row.last_error or "").startswith("451")
        assert row.next_attempt_at >= later + timedelta(seconds=100)  # 2 minutes minus jitter

    smtp.handler.reply = None
    with time_machine.travel(utcnow() + timedelta(minutes=10)):
        run = deliver(ctx)
    assert run.items == 3
    assert sorted(smtp.handler.ids()) == sorted(ids)
    assert all(r.status == "sent" and r.last_error is None for r in outbox())


def test_550_dead_letters_only_that_message(ctx: Flask, smtp: SmtpServer) -> None:
    rows = queue(3)
    smtp.handler.per_recipient["person1@example.com"] = "550 5.1.1 No such user here"

    run = deliver(ctx)

    assert run.items == 2
    by_id = {r.id: r for r in outbox()}
    dead = by_id[rows[1].id]
    assert dead.status == "dead" and dead.attempts == 1
    assert dead.last_error is not None and "550 5.1.1 No such user here" in dead.last_error
    assert {by_id[rows[0].id].status, by_id[rows[2].id].status} == {"sent"}
    assert sorted(smtp.handler.ids()) == sorted([rows[0].message_id, rows[2].message_id])


def test_gives_up_after_max_attempts(ctx: Flask, smtp: SmtpServer) -> None:
    (row,) = queue(1)
    row.attempts = mailer.MAX_ATTEMPTS - 1
    db.session.commit()
    smtp.handler.reply = "451 4.3.0 Try later"
    deliver(ctx)
    (row,) = outbox()
    assert row.status == "dead" and row.attempts == mailer.MAX_ATTEMPTS
    assert (row.last_error or "").startswith(f"gave up after {mailer.MAX_ATTEMPTS} attempts: 451")


def test_unrenderable_template_is_dead_lettered(ctx: Flask, smtp: SmtpServer) -> None:
    (row,) = queue(1)
    row.template = "no_such_template"
    db.session.commit()
    deliver(ctx)
    (row,) = outbox()
    assert row.status == "dead" and "cannot render template" in (row.last_error or "")
    assert smtp.handler.messages == []


def test_crash_between_send_and_mark_resends_once_with_same_message_id(
    ctx: Flask, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    (row,) = queue(1)

    def crash(*_args: Any) -> bool:
        raise RuntimeError("process died after sending")

    monkeypatch.setattr(claims, "mark_sent", crash)
    run = deliver(ctx)
    assert run.error is not None and "process died" in run.error
    (stuck,) = outbox()
    assert stuck.status == "sending" and stuck.claimed_until is not None
    assert smtp.handler.ids() == [row.message_id]
    monkeypatch.undo()

    # Within the lease nobody touches it.
    assert deliver(ctx).items == 0
    assert len(smtp.handler.messages) == 1

    with time_machine.travel(stuck.claimed_until + timedelta(seconds=1)):
        run = deliver(ctx)
    assert run.error is None and run.items == 1
    assert smtp.handler.ids() == [row.message_id, row.message_id]
    (done,) = outbox()
    assert done.status == "sent" and done.attempts == 2

    with time_machine.travel(utcnow() + timedelta(hours=2)):
        assert deliver(ctx).items == 0
    assert len(smtp.handler.messages) == 2


def test_lost_claim_does_not_overwrite_the_new_owner(ctx: Flask) -> None:
    queue(1)
    now = utcnow()
    (first,) = claims.claim_outbox(db.session, "email", now)
    later = now + claims.LEASE + timedelta(seconds=1)
    (second,) = claims.claim_outbox(db.session, "email", later)
    assert second.attempts == first.attempts + 1
    assert not claims.mark_retry(db.session, first, later, "late worker")
    assert claims.mark_sent(db.session, second, later)
    (row,) = outbox()
    assert row.status == "sent" and row.last_error is None


def test_two_concurrent_workers_send_each_message_once(app: Flask, smtp: SmtpServer) -> None:
    with app.app_context():
        rows = queue(40)
        expected = sorted(r.message_id for r in rows)
        db.session.remove()
    app.config["OUTBOX_BATCH_SIZE"] = 3  # many small claims, so the workers interleave
    barrier = threading.Barrier(4)
    runs: list[JobRun] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            runs.append(run_job(app, "deliver_outbox"))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        app.config.pop("OUTBOX_BATCH_SIZE")
    assert not errors
    assert [r.error for r in runs] == [None] * 4
    assert sum(r.items for r in runs) == 40
    assert sorted(smtp.handler.ids()) == expected
    assert max(Counter(smtp.handler.ids()).values()) == 1
    with app.app_context():
        assert {r.status for r in outbox()} == {"sent"}
        db.session.remove()


def test_catch_up_after_downtime_sends_everything_once(ctx: Flask, smtp: SmtpServer) -> None:
    rows = queue(5)
    start = utcnow()
    # Two messages were waiting for a retry that fell due while the app was down.
    for row, minutes in zip(rows[:2], (30, 90), strict=True):
        row.attempts = 3
        row.next_attempt_at = start + timedelta(minutes=minutes)
    db.session.commit()

    with time_machine.travel(start + timedelta(hours=3)):
        first = deliver(ctx)
        second = deliver(ctx)
    assert first.items == 5 and second.items == 0
    assert sorted(smtp.handler.ids()) == sorted(r.message_id for r in rows)


def test_jobs_run_command_delivers(app: Flask, smtp: SmtpServer) -> None:
    with app.app_context():
        queue(2)
        db.session.remove()
    result = app.test_cli_runner().invoke(args=["jobs", "run", "deliver_outbox"])
    assert result.exit_code == 0, result.output
    assert "deliver_outbox: 2 items" in result.output
    assert len(smtp.handler.messages) == 2


def test_starttls_refuses_an_unverifiable_certificate(
    ctx: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    make_cert = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    make_cert += ["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)]
    subprocess.run(make_cert, check=True, capture_output=True)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    server = SmtpServer()
    server.controller = Controller(
        server.handler, hostname="127.0.0.1", port=server.port, tls_context=tls
    )
    server.controller.start()
    monkeypatch.setitem(ctx.config, "SMTP_PORT", server.port)
    monkeypatch.setitem(ctx.config, "SMTP_STARTTLS", True)
    try:
        queue(1)
        deliver(ctx)
    finally:
        server.stop()
    (row,) = outbox()
    assert row.status == "pending" and "CERTIFICATE_VERIFY_FAILED" in (row.last_error or "")
    assert server.handler.messages == []
