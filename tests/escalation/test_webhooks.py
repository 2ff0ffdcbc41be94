"""Webhook delivery against a real HTTP server on loopback: signatures, retries, Retry-After,
410, endpoint disabling, the address guard, the CLI and the admin page."""

import base64
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from escalation import webhooks
from escalation.jobs import run_job
from escalation.notify import enqueue_webhooks
from escalation.webhooks import (
    UnsafeURL,
    add_endpoint,
    check_url,
    new_secret,
    parse_retry_after,
    sign,
    verify_signature,
)
from models import OutboxMessage, WebhookEndpoint, utcnow
from models.db import db
from tests.factories import login, make_user, post_form


class Receiver:
    """Requests received and the answers to give, shared with the handler threads."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.lock = threading.Lock()

    def next_answer(self) -> tuple[int, dict[str, str]]:
        """Pop the next scripted answer (204 when none is left)."""
        with self.lock:
            return self.answers.pop(0) if self.answers else (204, {})


class HttpServer:
    """A threaded HTTP server on loopback that records POSTs."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.receiver = Receiver()
        receiver = self.receiver

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body,
                        }
                    )
                status, headers = receiver.next_answer()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer((host, port), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """Return the base URL."""
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def http() -> Iterator[HttpServer]:
    """Run an HTTP server on loopback."""
    server = HttpServer()
    yield server
    server.close()


def endpoint(url: str, **kw: Any) -> WebhookEndpoint:
    """Add a loopback endpoint (explicitly allowed to use a private address) and commit."""
    kw.setdefault("allow_private", True)
    ep = add_endpoint(db.session, url, **kw)
    db.session.commit()
    return ep


def event(name: str = "ticket.opened", **data: Any) -> list[OutboxMessage]:
    """Queue an event for every subscribed endpoint and commit."""
    msgs = enqueue_webhooks(db.session, event=name, payload=data or {"ticket_id": 7})
    db.session.commit()
    return msgs


def rows() -> list[OutboxMessage]:
    """Read every webhook outbox row afresh."""
    db.session.rollback()
    query = sa.select(OutboxMessage).where(OutboxMessage.channel == "webhook")
    return list(db.session.execute(query.order_by(OutboxMessage.id)).scalars())


def fresh_endpoint(endpoint_id: int | None) -> WebhookEndpoint:
    """Read an endpoint afresh."""
    db.session.rollback()
    ep = db.session.get(WebhookEndpoint, endpoint_id)
    assert ep is not None
    return ep


def deliver(app: Flask, now: datetime | None = None) -> int:
    """Run the webhook job once and return the items delivered."""
    run = run_job(app, "deliver_webhooks", now=now)
    assert run.error is None, run.error
    return run.items


# --- signing -------------------------------------------------------------------------------------


def test_secret_format() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


def test_signature_matches_the_standard_webhooks_scheme() -> None:
    # The example from the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_verify_signature_rejects_tampering_wrong_secret_and_stale_timestamps() -> None:
    secret = new_secret()
    body = b'{"a":1}'
    stamp = int(utcnow().timestamp())
    headers = {
        "Webhook-Id": "msg_1",
        "Webhook-Timestamp": str(stamp),
        "Webhook-Signature": "v1,bogus " + sign(secret, "msg_1", stamp, body),
    }
    assert verify_signature(secret, headers, body)
    assert not verify_signature(secret, headers, b'{"a":2}')
    assert not verify_signature(new_secret(), headers, body)
    assert not verify_signature(secret, {**headers, "Webhook-Id": "msg_2"}, body)
    assert not verify_signature(secret, headers, body, now=stamp + 301)
    assert verify_signature(secret, headers, body, now=stamp + 301, tolerance=None)
    assert not verify_signature(secret, {}, body)


# --- delivery ------------------------------------------------------------------------------------


def test_delivery_is_signed_and_carries_the_payload(ctx: Flask, http: HttpServer) -> None:
    ep = endpoint(f"{http.url}/hook")
    (msg,) = event("ticket.decided", ticket_id=7, resolution="partner_leads")

    assert deliver(ctx) == 1

    (req,) = http.receiver.requests
    assert req["path"] == "/hook"
    assert verify_signature(ep.secret, req["headers"], req["body"])
    assert req["headers"]["webhook-id"] == msg.message_id
    assert req["headers"]["content-type"] == "application/json"
    payload = json.loads(req["body"])
    assert payload["id"] == msg.message_id
    assert payload["type"] == "ticket.decided"
    assert payload["data"] == {"ticket_id": 7, "resolution": "partner_leads"}
    assert datetime.fromisoformat(payload["timestamp"]).tzinfo is not None
    (row,) = rows()
    assert row.status == "sent" and row.sent_at is not None


def test_event_filter_and_disabled_endpoints(ctx: Flask, http: HttpServer) -> None:
    endpoint(f"{http.url}/all")
    endpoint(f"{http.url}/decided", events=["ticket.decided"])
    off = endpoint(f"{http.url}/off")
    off.enabled = False
    db.session.commit()
    event("ticket.opened")
    event("ticket.decided")
    assert deliver(ctx) == 3
    paths = sorted(r["path"] for r in http.receiver.requests)
    assert paths == ["/all", "/all", "/decided"]


def test_retry_after_seconds_is_honoured(ctx: Flask, http: HttpServer) -> None:
    ep = endpoint(http.url)
    event()
    http.receiver.answers = [(429, {"Retry-After": "120"})]
    now = utcnow() + timedelta(seconds=1)

    deliver(ctx, now)

    (row,) = rows()
    assert row.status == "pending" and row.attempts == 1
    assert row.next_attempt_at == now + timedelta(seconds=120)
    assert row.last_error == "HTTP 429"
    assert fresh_endpoint(ep.id).consecutive_failures == 1

    assert deliver(ctx, now + timedelta(seconds=119)) == 0
    assert deliver(ctx, now + timedelta(seconds=121)) == 1
    assert fresh_endpoint(ep.id).consecutive_failures == 0
    assert len(http.receiver.requests) == 2
    assert len({r["headers"]["webhook-id"] for r in http.receiver.requests}) == 1


def test_retry_after_http_date_is_honoured(ctx: Flask, http: HttpServer) -> None:
    endpoint(http.url)
    event()
    now = utcnow().replace(microsecond=0) + timedelta(seconds=1)
    http.receiver.answers = [
        (503, {"Retry-After": format_datetime(now + timedelta(minutes=7), usegmt=True)})
    ]

    deliver(ctx, now)

    (row,) = rows()
    assert row.status == "pending"
    assert row.next_attempt_at == now + timedelta(minutes=7)


def test_server_errors_back_off_exponentially(ctx: Flask, http: HttpServer) -> None:
    endpoint(http.url)
    event()
    http.receiver.answers = [(500, {}), (502, {})]
    now = utcnow() + timedelta(seconds=1)
    deliver(ctx, now)
    (row,) = rows()
    assert timedelta(seconds=54) <= row.next_attempt_at - now <= timedelta(seconds=66)
    later = row.next_attempt_at
    deliver(ctx, later)
    (row,) = rows()
    assert row.attempts == 2 and row.last_error == "HTTP 502"
    assert timedelta(seconds=108) <= row.next_attempt_at - later <= timedelta(seconds=132)


def test_parse_retry_after() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30", now) == timedelta(seconds=30)
    assert parse_retry_after("Fri, 01 May 2026 12:05:00 GMT", now) == timedelta(minutes=5)
    assert parse_retry_after("Fri, 01 May 2026 11:00:00 GMT", now) == timedelta(0)
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_gone_disables_the_endpoint_and_dead_letters(ctx: Flask, http: HttpServer) -> None:
    ep = endpoint(http.url)
    event()
    event()
    http.receiver.answers = [(410, {})]

    assert deliver(ctx) == 0

    first, second = rows()
    assert first.status == "dead" and "410" in (first.last_error or "")
    # The other message is failed, not left waiting: the admin retries it after enabling again.
    assert second.status == "dead" and second.attempts == 0
    assert "webhook endpoint disabled" in (second.last_error or "")
    gone = fresh_endpoint(ep.id)
    assert not gone.enabled and "410" in (gone.disabled_reason or "")
    assert len(http.receiver.requests) == 1
    assert event() == []  # disabled endpoints get no new events


def test_consecutive_failures_disable_the_endpoint(ctx: Flask, http: HttpServer) -> None:
    ep = endpoint(http.url)
    ep.consecutive_failures = webhooks.DISABLE_AFTER_FAILURES - 1
    db.session.commit()
    event()
    http.receiver.answers = [(500, {})]
    deliver(ctx)
    off = fresh_endpoint(ep.id)
    assert not off.enabled
    assert off.consecutive_failures == webhooks.DISABLE_AFTER_FAILURES
    assert "consecutive failures" in (off.disabled_reason or "")
    (row,) = rows()
    # Failed with the reason, so the outbox shows it and Retry sends it once enabled again.
    assert row.status == "dead" and "webhook endpoint disabled" in (row.last_error or "")


def test_redirects_are_not_followed(ctx: Flask, http: HttpServer) -> None:
    endpoint(f"{http.url}/old")
    event()
    http.receiver.answers = [(302, {"Location": f"{http.url}/elsewhere"})]
    deliver(ctx)
    assert [r["path"] for r in http.receiver.requests] == ["/old"]
    (row,) = rows()
    assert row.status == "pending" and "redirect" in (row.last_error or "")


def test_connection_refused_is_retried(ctx: Flask) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint(f"http://127.0.0.1:{port}/hook")
    event()
    deliver(ctx)
    (row,) = rows()
    assert row.status == "pending" and row.attempts == 1
    assert "ConnectionError" in (row.last_error or "")


# --- address guard -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.4/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://100.64.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[fe80::1]/hook",
        "ftp://203.0.113.9/hook",
        "file:///etc/passwd",
        "http://user:pw@8.8.8.8/hook",
        "https:///nohost",
    ],
)
def test_unsafe_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url(url)


def test_public_addresses_pass() -> None:
    check_url("https://8.8.8.8/hook")
    check_url("http://[2001:4860:4860::8888]:8443/hook")


def test_every_resolved_address_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(host: str, port: int, *args: Any, **kw: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(UnsafeURL, match=r"10\.0\.0\.5"):
        check_url("https://hooks.example.com/x")
    check_url("https://hooks.example.com/x", allow_private=True)


def test_private_url_is_refused_at_add_time_unless_allowed(ctx: Flask) -> None:
    with pytest.raises(UnsafeURL):
        add_endpoint(db.session, "http://127.0.0.1:9/hook")
    ep = add_endpoint(db.session, "http://127.0.0.1:9/hook", allow_private=True)
    assert ep.allow_private


def test_private_url_is_refused_at_delivery(ctx: Flask, http: HttpServer) -> None:
    # Stored without the check (as WEBHOOK_URLS entries are), then refused when sending.
    endpoint(http.url, allow_private=False, check=False)
    event()
    deliver(ctx)
    (row,) = rows()
    assert row.status == "dead" and "refused URL" in (row.last_error or "")
    assert "loopback" in (row.last_error or "")
    assert http.receiver.requests == []


def test_configured_urls_are_synced_once(ctx: Flask, http: HttpServer) -> None:
    ctx.config["WEBHOOK_URLS"] = [f"{http.url}/a", f"{http.url}/b", f"{http.url}/a"]
    try:
        assert webhooks.sync_configured_endpoints(db.session) == 2
        db.session.commit()
        assert webhooks.sync_configured_endpoints(db.session) == 0
        msgs = event()
        db.session.commit()
        assert len(msgs) == 2
        urls = db.session.execute(sa.select(WebhookEndpoint.url)).scalars().all()
        assert sorted(urls) == [f"{http.url}/a", f"{http.url}/b"]
    finally:
        ctx.config["WEBHOOK_URLS"] = []


# --- command line and admin page ---------------------------------------------------------------


def test_cli_add_refuses_private_and_accepts_with_flag(app: Flask) -> None:
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["webhooks", "add", "http://127.0.0.1:9/hook"])
    assert refused.exit_code == 2 and "loopback" in refused.output
    added = runner.invoke(
        args=[
            "webhooks",
            "add",
            "http://127.0.0.1:9/hook",
            "--allow-private",
            "--events",
            "ticket.opened, ticket.decided",
        ]
    )
    assert added.exit_code == 0, added.output
    assert "secret: whsec_" in added.output
    listed = runner.invoke(args=["webhooks", "list"])
    assert "http://127.0.0.1:9/hook [ticket.decided, ticket.opened] enabled" in listed.output
    with app.app_context():
        (ep,) = db.session.execute(sa.select(WebhookEndpoint)).scalars()
        assert ep.allow_private and ep.events == ["ticket.decided", "ticket.opened"]
        secret, ep_id = ep.secret, ep.id
        db.session.remove()
    assert f"secret: {secret}" in added.output
    assert runner.invoke(args=["webhooks", "secret", str(ep_id)]).output.strip() == secret
    assert runner.invoke(args=["webhooks", "secret", str(ep_id + 1)]).exit_code == 2


def admin_client(app: Flask, role: str = "admin") -> FlaskClient:
    """Return a client signed in as a new user of the role (requests get their own contexts)."""
    with app.app_context():
        email = make_user(role).email
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    login(client, email)
    return client


def read_endpoints(app: Flask) -> list[WebhookEndpoint]:
    """Read every endpoint in a context of its own."""
    with app.app_context():
        eps = list(db.session.execute(sa.select(WebhookEndpoint)).scalars())
        db.session.expunge_all()
        db.session.remove()
        return eps


def test_admin_page_adds_with_guard_and_toggles(app: Flask) -> None:
    client = admin_client(app)

    refused = post_form(client, "/admin/webhooks", {"url": "http://127.0.0.1:9/hook"})
    assert refused.status_code == 422
    assert "loopback" in refused.get_data(as_text=True)
    assert read_endpoints(app) == []

    added = post_form(
        client,
        "/admin/webhooks",
        {"url": "http://127.0.0.1:9/hook", "allow_private": "y", "events": "ticket.opened"},
    )
    assert added.status_code == 201
    assert added.headers["Cache-Control"] == "no-store"
    (ep,) = read_endpoints(app)
    assert ep.allow_private and ep.events == ["ticket.opened"]
    assert ep.secret in added.get_data(as_text=True)
    # Shown once: the list page does not carry it.
    listing = client.get("/admin/webhooks").get_data(as_text=True)
    assert "http://127.0.0.1:9/hook" in listing and ep.secret not in listing

    resp = post_form(client, "/admin/webhooks", {}, action=f"/admin/webhooks/{ep.id}/disable")
    assert resp.status_code == 302
    assert not read_endpoints(app)[0].enabled
    post_form(client, "/admin/webhooks", {}, action=f"/admin/webhooks/{ep.id}/enable")
    (back,) = read_endpoints(app)
    assert back.enabled and back.disabled_reason is None

    # Without the CSRF token the change is refused.
    assert client.post(f"/admin/webhooks/{ep.id}/disable").status_code == 400
    assert read_endpoints(app)[0].enabled


@pytest.mark.parametrize(("role", "status"), [("reviewer", 403), ("partner", 404)])
def test_admin_pages_are_admin_only(app: Flask, role: str, status: int) -> None:
    client = admin_client(app, role)
    for path in ("/admin/webhooks", "/admin/outbox", "/admin/jobs"):
        assert client.get(path).status_code == status
