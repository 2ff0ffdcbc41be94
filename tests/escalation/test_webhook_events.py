"""Webhook event types: one vocabulary, matching what is sent, and unknown names refused."""

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from escalation.webhooks import UnknownEvent, add_endpoint, parse_events
from models import WebhookEndpoint
from models.db import db
from models.webhook import WEBHOOK_EVENTS
from tests.escalation.test_webhooks import admin_client, read_endpoints
from tests.factories import post_form

ROOT = Path(__file__).resolve().parents[2]
# The ways code queues a webhook: notify.enqueue_webhooks(event=...), the ticket service's
# _webhook(sess, "..."), and the SLA sweeps' fan-out EVENT constant.
EMITTERS = (
    re.compile(r"enqueue_webhooks\(\s*[^)]*?event=\"([\w.]+)\"", re.S),
    re.compile(r"_webhook\(\s*sess,\s*\"([\w.]+)\""),
    re.compile(r"^EVENT = \"([\w.]+)\"", re.M),
)
# May be offered a little before the code sends it (comments were being made to send it).
NOT_SENT_YET = {"ticket.commented"}


def emitted_events() -> set[str]:
    """Return every event type the application code queues a webhook for."""
    found: set[str] = set()
    for package in ("conflict", "escalation", "web"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for pattern in EMITTERS:
                found.update(pattern.findall(text))
    return found


def test_the_vocabulary_is_what_the_code_sends() -> None:
    sent = emitted_events()
    assert {"ticket.opened", "ticket.escalated", "registration.submitted"} <= sent
    assert sent <= set(WEBHOOK_EVENTS)
    assert set(WEBHOOK_EVENTS) - sent <= NOT_SENT_YET


def test_parse_events_keeps_known_types_and_names_the_unknown() -> None:
    assert parse_events(" ticket.opened, ticket.decided,,ticket.opened ") == [
        "ticket.decided",
        "ticket.opened",
    ]
    assert parse_events("") == [] and parse_events(None) == []
    assert parse_events(["ticket.commented"]) == ["ticket.commented"]
    with pytest.raises(UnknownEvent) as refused:
        parse_events("ticket.decide, tickets.opened, ticket.opened")
    message = str(refused.value)
    assert message.startswith("Unknown event types: ticket.decide, tickets.opened.")
    assert all(name in message for name in WEBHOOK_EVENTS)


def test_the_service_refuses_unknown_types_and_adds_nothing(ctx: Flask) -> None:
    with pytest.raises(UnknownEvent, match=r"Unknown event type: ticket\.decide\."):
        add_endpoint(
            db.session, "https://hooks.example.com/x", events=["ticket.decide"], check=False
        )
    db.session.rollback()
    assert db.session.execute(sa.select(WebhookEndpoint)).first() is None


def test_admin_page_refuses_unknown_types_with_a_field_message(app: Flask) -> None:
    client = admin_client(app)
    page = client.get("/admin/webhooks").text
    assert "named_account_list.published" in page  # the help lists the known types
    refused = post_form(
        client,
        "/admin/webhooks",
        {
            "url": "http://127.0.0.1:9/hook",
            "allow_private": "y",
            "events": "ticket.decide, tickets.opened",
        },
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'class="field has-error"' in html
    assert "Unknown event types: ticket.decide, tickets.opened. Choose from" in html
    assert read_endpoints(app) == []


def test_cli_refuses_unknown_types_with_exit_2(app: Flask) -> None:
    runner = app.test_cli_runner()
    refused = runner.invoke(
        args=[
            "webhooks",
            "add",
            "http://127.0.0.1:9/hook",
            "--allow-private",
            "--events",
            "ticket.decide,ticket.opened",
        ]
    )
    assert refused.exit_code == 2
    assert "Error: Unknown event type: ticket.decide. Choose from" in refused.output
    assert read_endpoints(app) == []
