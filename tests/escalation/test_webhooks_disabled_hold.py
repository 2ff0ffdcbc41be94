"""Webhook endpoints disabled after failing hold their events and send them, in order, once
enabled again; short outages do not disable; deliberate disables and deleted endpoints get
no new events."""

import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask_migrate import downgrade, upgrade

from app import create_app
from escalation import claims, fanout, service, webhooks
from escalation.notify import DISABLED_ERROR, enabled_endpoints
from models import OutboxMessage, WebhookEndpoint, utcnow
from models.db import db
from tests.escalation.test_service import _sweep_world
from tests.escalation.test_webhooks import (
    HttpServer,
    admin_client,
    deliver,
    endpoint,
    event,
    fresh_endpoint,
    http,
    rows,
)
from tests.factories import make_api_token, make_district, make_list, make_user, post_form
from tests.test_migrations import empty_database_url

__all__ = ["empty_database_url", "http"]  # fixtures shared with the webhook and migration tests

CLOSE = (utcnow().date() + timedelta(days=200)).isoformat()
ALWAYS_FAILING = [(500, {})] * 1000


def registration(i: int) -> dict[str, Any]:
    """Return an API body registering named account number i (so it opens a ticket)."""
    return {
        "customer_name": f"Customer {i:03d} Holdings",
        "customer_domain": f"customer{i:03d}.com",
        "district": "northeast",
        "pc_count": 1200,
        "workloads": ["exchange"],
        "solution_stack": "all_microsoft",
        "estimated_value": 50_000,
        "expected_close_date": CLOSE,
    }


@pytest.fixture()
def partner_api(app: Flask) -> SimpleNamespace:
    """A district, a reviewer, a list of named accounts and a partner's bearer token."""
    with app.app_context():
        make_district("northeast", "east")
        make_user("reviewer", districts=["northeast"])
        make_list(
            [
                {
                    "name": f"Customer {i:03d} Holdings",
                    "domain": f"customer{i:03d}.com",
                    "district": "northeast",
                }
                for i in range(70)
            ]
        )
        token = make_api_token(make_user("partner"))[1]
        db.session.commit()
    return SimpleNamespace(headers={"Authorization": f"Bearer {token}"})


def submit(app: Flask, api: SimpleNamespace, i: int) -> int:
    """Submit registration i through the API and return the ticket it opened."""
    resp = app.test_client().post(
        "/api/v1/registrations", json=registration(i), headers=api.headers
    )
    assert resp.status_code == 201, resp.get_json()
    ticket_id = resp.get_json()["ticket_id"]
    assert ticket_id is not None
    return int(ticket_id)


def ticket_ids(http: HttpServer) -> list[int]:
    """Return the ticket ids of the received deliveries, in the order they arrived."""
    return [json.loads(r["body"])["data"]["ticket_id"] for r in http.receiver.requests]


def test_events_while_disabled_after_failures_are_sent_once_in_order_on_enable(
    app: Flask, partner_api: SimpleNamespace, http: HttpServer
) -> None:
    with app.app_context():
        ep_id = endpoint(http.url, events=["ticket.opened"]).id
    before = [submit(app, partner_api, i) for i in range(3)]
    http.receiver.answers = list(ALWAYS_FAILING)

    # The receiver stays down until the endpoint is disabled after failing.
    now = utcnow() + timedelta(seconds=1)
    for _ in range(12):
        with app.app_context():
            if not fresh_endpoint(ep_id).enabled:
                break
        deliver(app, now)
        now += timedelta(minutes=20)
    with app.app_context():
        off = fresh_endpoint(ep_id)
        assert not off.enabled and off.hold_while_disabled
        assert "consecutive failures" in (off.disabled_reason or "")
    tried = len(http.receiver.requests)

    during = [submit(app, partner_api, i) for i in range(3, 63)]

    with app.app_context():
        held = rows()
        assert len(held) == 63
        assert all(r.status == "dead" for r in held)
        assert all(r.attempts == 0 for r in held[3:])  # held when queued: never tried
        assert all((r.last_error or "").startswith(DISABLED_ERROR) for r in held)
    # Nothing goes out while it is disabled.
    assert deliver(app, now) == 0
    assert len(http.receiver.requests) == tried

    client = admin_client(app)
    page = client.get("/admin/webhooks").text
    assert "63 held" in page and "Its events are held" in page
    delivery = client.get(
        "/admin/outbox", query_string={"status": "dead", "endpoint_id": ep_id}
    ).text
    assert f"webhook endpoint {ep_id}" in delivery and 'Dead <span class="muted">(63)' in delivery

    http.receiver.answers = []
    http.receiver.requests.clear()
    enabled = post_form(
        client,
        "/admin/webhooks",
        {},
        action=f"/admin/webhooks/{ep_id}/enable",
        follow_redirects=True,
    )
    assert "63 message(s) held while it was disabled are sent again" in enabled.text

    assert deliver(app, now) == 63
    assert deliver(app, now + timedelta(hours=2)) == 0
    assert ticket_ids(http) == before + during
    ids = [r["headers"]["webhook-id"] for r in http.receiver.requests]
    assert len(set(ids)) == 63
    with app.app_context():
        assert {r.status for r in rows()} == {"sent"}
        assert [r.message_id for r in rows()] == ids
        back = fresh_endpoint(ep_id)
        assert back.enabled and not back.hold_while_disabled and back.failing_since is None


def test_a_deleted_endpoint_gets_nothing(
    app: Flask, partner_api: SimpleNamespace, http: HttpServer
) -> None:
    with app.app_context():
        gone = endpoint(f"{http.url}/gone")
        kept = endpoint(f"{http.url}/kept", events=["ticket.opened"])
        gone_id, kept_id = gone.id, kept.id
        # Disabled after failing, so it was holding events when it was deleted.
        db.session.execute(
            sa.update(WebhookEndpoint)
            .where(WebhookEndpoint.id == gone_id)
            .values(enabled=False, hold_while_disabled=True, disabled_reason="10 failures")
        )
        db.session.commit()
    submit(app, partner_api, 0)
    with app.app_context():
        assert {r.endpoint_id for r in rows()} == {gone_id, kept_id}
        db.session.execute(sa.delete(OutboxMessage).where(OutboxMessage.endpoint_id == gone_id))
        db.session.execute(sa.delete(WebhookEndpoint).where(WebhookEndpoint.id == gone_id))
        db.session.commit()
        assert [e.id for e in enabled_endpoints(db.session)] == [kept_id]
        db.session.rollback()

    submit(app, partner_api, 1)
    deliver(app)

    with app.app_context():
        assert {r.endpoint_id for r in rows()} == {kept_id}
    assert {r["path"] for r in http.receiver.requests} == {"/kept"}


def test_a_short_outage_is_ridden_out_by_retries(ctx: Flask, http: HttpServer) -> None:
    ep = endpoint(http.url)
    for i in range(webhooks.DISABLE_AFTER_FAILURES * 2):
        event(ticket_id=i)
    http.receiver.answers = [(503, {})] * (webhooks.DISABLE_AFTER_FAILURES * 2)
    now = utcnow() + timedelta(seconds=1)

    assert deliver(ctx, now) == 0

    down = fresh_endpoint(ep.id)
    assert down.enabled and down.consecutive_failures == webhooks.DISABLE_AFTER_FAILURES * 2
    assert down.failing_since == now
    assert deliver(ctx, now + timedelta(minutes=3)) == webhooks.DISABLE_AFTER_FAILURES * 2
    up = fresh_endpoint(ep.id)
    assert up.enabled and up.consecutive_failures == 0 and up.failing_since is None


@pytest.mark.parametrize(
    ("failures", "minutes", "out_of_attempts", "disabled"),
    [
        (9, 600, False, False),  # too few failures, however long
        (10, 59, False, False),  # many failures, but within a short outage
        (10, 60, False, True),
        (50, 5, True, True),  # a message would run out of attempts: hold it instead
        (9, 5, True, False),  # one bad message among good ones is given up on its own
        (10, None, False, True),  # a run whose start was never recorded
    ],
)
def test_when_failures_disable_an_endpoint(
    failures: int, minutes: int | None, out_of_attempts: bool, disabled: bool
) -> None:
    now = utcnow()
    since = None if minutes is None else now - timedelta(minutes=minutes)
    assert (
        webhooks.should_disable(failures, since, now, out_of_attempts=out_of_attempts) is disabled
    )


def test_a_message_out_of_attempts_while_the_endpoint_fails_is_held(
    ctx: Flask, http: HttpServer
) -> None:
    ep = endpoint(http.url)
    now = utcnow() + timedelta(seconds=1)
    ep.consecutive_failures = webhooks.DISABLE_AFTER_FAILURES - 1
    ep.failing_since = now - timedelta(minutes=5)
    db.session.commit()
    event()
    db.session.execute(sa.update(OutboxMessage).values(attempts=webhooks.MAX_ATTEMPTS - 1))
    db.session.commit()
    http.receiver.answers = [(500, {})]

    deliver(ctx, now)

    (row,) = rows()
    assert row.status == "dead" and (row.last_error or "").startswith(DISABLED_ERROR)
    assert not fresh_endpoint(ep.id).enabled
    webhooks.set_enabled(db.session, fresh_endpoint(ep.id), True)
    db.session.commit()
    assert deliver(ctx, now) == 1


def test_a_bad_message_among_good_ones_is_still_given_up(ctx: Flask, http: HttpServer) -> None:
    ep = endpoint(http.url)
    event()
    db.session.execute(sa.update(OutboxMessage).values(attempts=webhooks.MAX_ATTEMPTS - 1))
    db.session.commit()
    http.receiver.answers = [(500, {})]
    deliver(ctx)
    (row,) = rows()
    assert row.status == "dead" and (row.last_error or "").startswith("gave up after 16")
    assert fresh_endpoint(ep.id).enabled


def test_an_admins_disable_holds_what_was_queued_and_takes_no_new_events(
    ctx: Flask, http: HttpServer
) -> None:
    ep = endpoint(http.url)
    event(ticket_id=1)
    webhooks.set_enabled(db.session, ep, False)
    db.session.commit()
    assert event(ticket_id=2) == []
    (row,) = rows()
    assert row.status == "dead" and (row.last_error or "").startswith(DISABLED_ERROR)
    assert not fresh_endpoint(ep.id).hold_while_disabled

    assert webhooks.set_enabled(db.session, fresh_endpoint(ep.id), True) == 1
    db.session.commit()
    assert deliver(ctx) == 1
    assert ticket_ids(http) == [1]


def test_a_held_message_written_as_the_endpoint_was_enabled_is_still_sent(
    ctx: Flask, http: HttpServer
) -> None:
    ep = endpoint(http.url)
    db.session.execute(
        sa.update(WebhookEndpoint)
        .where(WebhookEndpoint.id == ep.id)
        .values(enabled=False, hold_while_disabled=True, disabled_reason="10 failures")
    )
    db.session.commit()
    # This transaction reads the endpoint as disabled; it is enabled (as by another request,
    # whose requeue cannot see this message yet) before the message is written.
    enabled_endpoints(db.session)
    webhooks._requeue_held(db.session, ep.id or 0)
    db.session.execute(
        sa.update(WebhookEndpoint)
        .where(WebhookEndpoint.id == ep.id)
        .values(enabled=True, hold_while_disabled=False, disabled_reason=None)
        .execution_options(synchronize_session=False)
    )
    (held,) = event(ticket_id=5)
    assert held.status == "dead"

    assert deliver(ctx) == 1
    assert ticket_ids(http) == [5]
    assert deliver(ctx) == 0


def test_the_sweep_holds_escalations_for_an_endpoint_disabled_after_failing(
    world: dict[str, Any],
) -> None:
    setup = _sweep_world(world)
    held = WebhookEndpoint(
        url="https://held.example.com/x",
        secret="s" * 20,
        enabled=False,
        hold_while_disabled=True,
        disabled_reason="10 consecutive failures",
    )
    db.session.add(held)
    db.session.commit()
    service.escalate_overdue(db.session, setup["now"])
    db.session.commit()
    assert fanout.expand_fanouts(db.session, setup["now"]) == 6
    webhooks.dead_letter_disabled(db.session, setup["now"])
    db.session.commit()
    mine = [r for r in rows() if r.endpoint_id == held.id]
    assert len(mine) == 3
    assert all(r.status == "dead" and r.last_error for r in mine)
    assert all((r.last_error or "").startswith(DISABLED_ERROR) for r in mine)
    # Never claimed while it is off.
    batch = claims.claim_outbox(db.session, "webhook", setup["now"] + timedelta(hours=1))
    assert all(m.endpoint_id != held.id for m in batch)


def test_the_migration_goes_down_and_up_with_endpoints_in_place(
    empty_database_url: str, tmp_path: Path
) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x"})
    with app.app_context():
        upgrade(revision="a4c7e2f19b36")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO webhook_endpoint (url, secret, events, enabled, allow_private, "
                    "consecutive_failures, disabled_reason, created_at) VALUES "
                    "('https://a.example.com', 's', '[]', :off, :off, 10, "
                    "'10 consecutive failures; last: HTTP 500', :now), "
                    "('https://b.example.com', 's', '[]', :off, :off, 0, "
                    "'disabled by an admin', :now)"
                ),
                {"off": False, "now": utcnow()},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO outbox_message (channel, event, message_id, recipient, "
                    "endpoint_id, subject, template, context, status, attempts, "
                    "next_attempt_at, created_at) SELECT 'webhook', 'ticket.opened', 'msg_1', "
                    "url, id, '', '', '{}', 'dead', 0, :now, :now FROM webhook_endpoint "
                    "WHERE url = 'https://a.example.com'"
                ),
                {"now": utcnow()},
            )
        upgrade()
        hold = {
            url: bool(flag)
            for url, flag in db.session.execute(
                sa.text("SELECT url, hold_while_disabled FROM webhook_endpoint")
            )
        }
        db.session.remove()
        assert hold == {"https://a.example.com": True, "https://b.example.com": False}

        downgrade(revision="a4c7e2f19b36")
        with db.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("webhook_endpoint")}
            kept = conn.execute(sa.text("SELECT count(*) FROM outbox_message")).scalar_one()
        assert "hold_while_disabled" not in columns and "failing_since" not in columns
        assert kept == 1

        upgrade()
        with db.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("webhook_endpoint")}
        assert {"hold_while_disabled", "failing_since"} <= columns
        db.engine.dispose()
