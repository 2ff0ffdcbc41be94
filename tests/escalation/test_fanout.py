"""Webhook fan-out rows: grouping, expansion into one message per ticket, delivery, claims."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from escalation import fanout
from escalation.jobs import run_job
from escalation.webhooks import add_endpoint, verify_signature
from models import OutboxMessage, WebhookEndpoint
from models.db import db
from tests.escalation.test_webhooks import HttpServer, http  # noqa: F401
from tests.factories import login, make_user

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SHARED = {"type": "conflict", "status": "open", "level": 2, "from_level": 1, "district": "ne"}


def queue_fanout(endpoints: list[WebhookEndpoint], groups: list[dict[str, Any]]) -> None:
    """Write fan-out rows as a sweep would, and commit."""
    rows = fanout.fanout_rows(endpoints, "ticket.escalated", groups, NOW)
    if rows:
        db.session.execute(sa.insert(OutboxMessage), rows)
    db.session.commit()


def webhook_rows() -> list[OutboxMessage]:
    """Read every webhook outbox row afresh, oldest first."""
    db.session.rollback()
    query = sa.select(OutboxMessage).where(OutboxMessage.channel == "webhook")
    return list(db.session.execute(query.order_by(OutboxMessage.id)).scalars())


def test_payload_groups_gather_equal_payloads_with_ids_ascending() -> None:
    other = {**SHARED, "district": "sw"}
    groups = fanout.payload_groups([(9, SHARED), (4, other), (2, dict(SHARED))])
    assert sorted((g["data"]["district"], g["ticket_ids"]) for g in groups) == [
        ("ne", [2, 9]),
        ("sw", [4]),
    ]
    assert fanout.payload_groups([]) == []


def test_nothing_to_fan_out_writes_no_row(ctx: Flask) -> None:
    ep = add_endpoint(db.session, "https://hooks.example.com/x", check=False)
    assert fanout.fanout_rows([ep], "ticket.escalated", [], NOW) == []


def test_expansion_makes_one_message_per_ticket_with_stable_ids(ctx: Flask) -> None:
    ep = add_endpoint(db.session, "https://hooks.example.com/x", check=False)
    queue_fanout([ep], fanout.payload_groups([(5, SHARED), (3, SHARED)]))
    (row,) = webhook_rows()
    assert row.status == fanout.FANOUT and row.endpoint_id == ep.id

    assert fanout.expand_fanouts(db.session, NOW) == 2
    db.session.commit()

    first, second = webhook_rows()
    assert [m.message_id for m in (first, second)] == [f"{row.message_id}_3", f"{row.message_id}_5"]
    assert first.context == {"type": "ticket.escalated", "data": {"ticket_id": 3, **SHARED}}
    for m in (first, second):
        assert (m.status, m.attempts, m.endpoint_id, m.recipient) == ("pending", 0, ep.id, ep.url)
        # The payload timestamp is the escalation's, not the expansion's.
        assert m.created_at == NOW and m.next_attempt_at == NOW
    # The fan-out row is gone, so nothing is made twice.
    assert fanout.expand_fanouts(db.session, NOW + timedelta(hours=1)) == 0


def test_expansion_waits_for_the_rows_due_time(ctx: Flask) -> None:
    ep = add_endpoint(db.session, "https://hooks.example.com/x", check=False)
    queue_fanout([ep], fanout.payload_groups([(1, SHARED)]))
    assert fanout.expand_fanouts(db.session, NOW - timedelta(seconds=1)) == 0
    assert fanout.expand_fanouts(db.session, NOW) == 1


def test_webhook_job_expands_then_delivers_each_message_signed(
    ctx: Flask,
    http: HttpServer,  # noqa: F811
) -> None:
    ep = add_endpoint(db.session, f"{http.url}/hook", allow_private=True)
    db.session.commit()
    queue_fanout([ep], fanout.payload_groups([(7, SHARED), (8, {**SHARED, "level": 3})]))

    run = run_job(ctx, "deliver_webhooks", now=NOW + timedelta(seconds=1))
    assert run.error is None and run.items == 2

    requests = sorted(
        http.receiver.requests, key=lambda r: json.loads(r["body"])["data"]["ticket_id"]
    )
    assert [json.loads(r["body"])["data"] for r in requests] == [
        {"ticket_id": 7, **SHARED},
        {"ticket_id": 8, **SHARED, "level": 3},
    ]
    for req in requests:
        assert verify_signature(ep.secret, req["headers"], req["body"], tolerance=None)
        payload = json.loads(req["body"])
        assert payload["id"] == req["headers"]["webhook-id"]
        assert payload["type"] == "ticket.escalated"
        assert payload["timestamp"] == "2026-03-02T15:00:00Z"
    assert {m.status for m in webhook_rows()} == {"sent"}


@pytest.mark.postgres
def test_a_fanout_row_is_expanded_by_one_worker_only(ctx: Flask) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    ep = add_endpoint(db.session, "https://hooks.example.com/x", check=False)
    queue_fanout([ep], fanout.payload_groups([(1, SHARED), (2, SHARED)]))
    other = sa.orm.Session(db.engine)
    try:
        # The first worker holds its claim (uncommitted) while the second one looks.
        assert fanout.expand_fanouts(db.session, NOW) == 2
        assert fanout.expand_fanouts(other, NOW) == 0
        db.session.commit()
        other.commit()
    finally:
        other.close()
    assert len(webhook_rows()) == 2


def test_outbox_page_lists_fanout_rows(app: Flask) -> None:
    with app.app_context():
        ep = add_endpoint(db.session, "https://hooks.example.com/x", check=False)
        queue_fanout([ep], fanout.payload_groups([(1, SHARED)]))
        make_user("admin", email="ops@example.com")
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    login(client, "ops@example.com")
    body = client.get("/admin/outbox?status=fanout").get_data(as_text=True)
    assert 'Fan-out <span class="muted">(1)</span>' in body
    assert "turns it into those messages" in body
    assert "https://hooks.example.com/x" in body
