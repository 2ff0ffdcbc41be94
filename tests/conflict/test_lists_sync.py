"""Syncing the named-account list from a URL, against a real HTTP server on loopback."""

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from conflict.lists import last_sync_status, sync_named_accounts
from models import AuditEvent, NamedAccountList, PolicyVersion, utcnow
from models.db import db
from models.policy import active_policy
from tests.conflict.test_lists import (
    BASE_ROWS,
    RECHECKS,
    counts,
    csv_bytes,
    districts,
    fake_recheck,
    publish_rows,
)
from tests.factories import login, make_user

__all__ = ["fake_recheck"]  # the autouse fixture, shared with the service tests

LAST_MODIFIED = "Sun, 18 Jan 2026 09:00:00 GMT"


@dataclass
class Served:
    """What the loopback server answers, and the requests it saw."""

    body: bytes = b""
    status: int = 200
    etag: str | None = '"v1"'
    last_modified: str | None = LAST_MODIFIED
    requests: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture()
def server() -> Iterator[tuple[str, Served]]:
    """Serve a CSV over HTTP on 127.0.0.1, honouring conditional GETs like a real server."""
    served = Served()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(dict(self.headers.items()))
            if served.status != 200:
                self.send_response(served.status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            fresh = served.etag and self.headers.get("If-None-Match") == served.etag
            if fresh:
                self.send_response(304)
                self.send_header("ETag", served.etag or "")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/csv; charset=utf-8")
            self.send_header("Content-Length", str(len(served.body)))
            if served.etag:
                self.send_header("ETag", served.etag)
            if served.last_modified:
                self.send_header("Last-Modified", served.last_modified)
            self.end_headers()
            self.wfile.write(served.body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/named-accounts.csv", served
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture()
def sync_ctx(app: Flask, server: tuple[str, Served]) -> Iterator[Served]:
    """Point NAMED_ACCOUNTS_URL at the loopback server inside an app context."""
    url, served = server
    app.config["NAMED_ACCOUNTS_URL"] = url
    app.config["NAMED_ACCOUNTS_TIMEOUT"] = 5
    try:
        with app.app_context():
            districts()
            db.session.commit()
            yield served
            db.session.remove()
    finally:
        app.config["NAMED_ACCOUNTS_URL"] = None
        app.config.pop("NAMED_ACCOUNTS_TIMEOUT", None)


def _run() -> int:
    """Run the job the way the runner does: one transaction, committed at the end."""
    done = sync_named_accounts(db.session, utcnow())
    db.session.commit()
    return done


def _effective() -> tuple[int, str] | None:
    row = db.session.execute(
        sa.select(NamedAccountList.id, NamedAccountList.content_hash).where(
            NamedAccountList.status == "published"
        )
    ).first()
    return None if row is None else (row[0], row[1])


def _actions() -> list[str]:
    return list(db.session.execute(sa.select(AuditEvent.action).order_by(AuditEvent.id)).scalars())


def test_changed_list_is_stored_as_a_draft_then_304_stores_nothing(sync_ctx: Served) -> None:
    current = publish_rows(BASE_ROWS)
    sync_ctx.body = csv_bytes(BASE_ROWS[:2], bom=True)
    assert _run() == 1
    drafts = (
        db.session.execute(sa.select(NamedAccountList).where(NamedAccountList.status == "draft"))
        .scalars()
        .all()
    )
    assert [(d.source, d.account_count) for d in drafts] == [("sync", 2)]
    assert _effective() == (current.id, current.content_hash)  # a draft, not published
    status = last_sync_status(db.session)
    assert status is not None and status.ok and status.result == "stored"
    assert status.list_id == drafts[0].id
    # The first request had nothing to validate against.
    assert "If-None-Match" not in sync_ctx.requests[0]
    before = counts()
    assert _run() == 0
    assert sync_ctx.requests[1]["If-None-Match"] == '"v1"'
    assert sync_ctx.requests[1]["If-Modified-Since"] == LAST_MODIFIED
    assert counts() == before
    status = last_sync_status(db.session)
    assert status is not None and status.ok and status.result == "not_modified"


def test_new_etag_with_the_same_content_stores_nothing(sync_ctx: Served) -> None:
    publish_rows(BASE_ROWS)
    sync_ctx.body = csv_bytes(list(reversed(BASE_ROWS)))
    before = counts()
    assert _run() == 0
    assert counts() == before
    status = last_sync_status(db.session)
    assert status is not None and status.result == "unchanged"
    # The next run sends the validators it learned.
    sync_ctx.etag = '"v2"'
    assert _run() == 0
    assert sync_ctx.requests[1]["If-None-Match"] == '"v1"'
    assert counts() == before


def test_auto_publish_publishes_the_synced_list(sync_ctx: Served) -> None:
    first = publish_rows(BASE_ROWS)
    policy = active_policy(db.session)
    policy.active = False
    db.session.flush()
    db.session.add(
        PolicyVersion(
            version=2,
            data=policy.values.model_copy(update={"auto_publish_synced_lists": True}).model_dump(),
            active=True,
        )
    )
    db.session.commit()
    RECHECKS.clear()
    sync_ctx.body = csv_bytes(BASE_ROWS[:1])
    assert _run() == 1
    effective = _effective()
    assert effective is not None and effective[0] != first.id
    version = db.session.get(NamedAccountList, effective[0])
    assert version is not None and version.source == "sync"
    assert version.effective_from == utcnow().date()
    assert [r["list_id"] for r in RECHECKS] == [version.id]
    status = last_sync_status(db.session)
    assert status is not None and status.result == "published"


@pytest.mark.parametrize("status", [500, 404, 403])
def test_error_answers_leave_the_list_untouched(sync_ctx: Served, status: int) -> None:
    current = publish_rows(BASE_ROWS)
    before = counts()
    sync_ctx.status = status
    sync_ctx.body = csv_bytes(BASE_ROWS[:1])
    assert _run() == 0
    assert counts() == before
    assert _effective() == (current.id, current.content_hash)
    assert _actions()[-1] == "list.sync_failed"
    result = last_sync_status(db.session)
    assert result is not None and not result.ok
    assert result.reason == f"HTTP {status} from the list URL"


def test_connection_refused_is_recorded(app: Flask) -> None:
    # Bind a port and close it so that nothing listens there.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app.config["NAMED_ACCOUNTS_URL"] = f"http://127.0.0.1:{port}/accounts.csv"
    try:
        with app.app_context():
            districts()
            current = publish_rows(BASE_ROWS)
            before = counts()
            assert _run() == 0
            assert counts() == before
            assert _effective() == (current.id, current.content_hash)
            result = last_sync_status(db.session)
            assert result is not None and not result.ok
            assert result.reason is not None and "ConnectionError" in result.reason
    finally:
        app.config["NAMED_ACCOUNTS_URL"] = None


def test_bad_csv_leaves_the_list_untouched(sync_ctx: Served) -> None:
    current = publish_rows(BASE_ROWS)
    before = counts()
    sync_ctx.body = csv_bytes([BASE_ROWS[0] | {"segment": "galactic"}, BASE_ROWS[1]])
    assert _run() == 0
    assert counts() == before
    assert _effective() == (current.id, current.content_hash)
    event = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "list.sync_failed")
    ).scalar_one()
    assert event.data["reason"] == "the file was refused: 1 bad line(s); nothing was imported"
    assert event.data["errors"][0]["column"] == "segment"
    # A failure does not make the next run forget the last good validators.
    sync_ctx.body = csv_bytes(BASE_ROWS[:1])
    assert _run() == 1


def test_without_a_url_the_job_does_nothing(app: Flask) -> None:
    with app.app_context():
        assert sync_named_accounts(db.session, utcnow()) == 0
        assert _actions() == []


def test_admin_page_shows_the_last_sync(sync_ctx: Served, app: Flask, client: FlaskClient) -> None:
    publish_rows(BASE_ROWS, effective_from=date(2026, 1, 18))
    sync_ctx.status = 500
    _run()
    admin = make_user("admin")
    db.session.commit()
    assert login(client, admin.email).status_code == 302
    page = client.get("/admin/lists").get_data(as_text=True)
    assert "Last sync from" in page
    assert "failed" in page and "HTTP 500 from the list URL" in page
    sync_ctx.status = 200
    sync_ctx.body = csv_bytes(BASE_ROWS[:2])
    _run()
    page = client.get("/admin/lists").get_data(as_text=True)
    assert "<strong>ok</strong> (Stored)" in page
