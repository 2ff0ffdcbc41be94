"""Admin-side fixes: messages for disabled webhook endpoints, the due-soon warning's bound, the
publish error's wording and long unbroken text on the pages."""

import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from escalation import claims, webhooks
from models import OutboxMessage, PolicyVersion, WebhookEndpoint, utcnow
from models.db import db
from tests.conflict.test_lists import BASE_ROWS, csv_bytes, districts, fake_recheck, publish_rows
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
from tests.factories import (
    login,
    make_api_token,
    make_user,
    post_form,
)
from tests.test_admin_policy import form_data, typed_input
from web.policy_input import check_policy_input

__all__ = ["fake_recheck", "http"]  # fixtures shared with the list and webhook tests

CSS = Path(__file__).resolve().parents[1] / "static" / "css" / "app.css"


# --- messages for a disabled webhook endpoint ---------------------------------------------------


def test_disabling_an_endpoint_fails_its_waiting_messages(ctx: Flask, http: HttpServer) -> None:
    ep = endpoint(http.url)
    event()
    webhooks.set_enabled(db.session, ep, False)
    db.session.commit()
    (row,) = rows()
    assert row.status == "dead" and row.attempts == 0
    assert row.last_error == (
        "webhook endpoint disabled (disabled by an admin); enabling it again sends this message"
    )


def test_a_message_whose_endpoint_was_disabled_behind_its_back_fails(
    ctx: Flask, http: HttpServer
) -> None:
    # Queued, then the endpoint turned off without the service (another instance, an old
    # version): the delivery run fails the message instead of leaving it pending for ever.
    ep = endpoint(http.url)
    event()
    db.session.execute(
        sa.update(WebhookEndpoint)
        .where(WebhookEndpoint.id == ep.id)
        .values(enabled=False, disabled_reason="410 Gone: the receiver asked us to stop")
    )
    db.session.commit()
    deliver(ctx)
    (row,) = rows()
    assert row.status == "dead" and row.attempts == 0
    assert "webhook endpoint disabled (410 Gone" in (row.last_error or "")
    assert http.receiver.requests == []


def test_a_claimed_message_whose_endpoint_is_disabled_before_posting_fails(
    ctx: Flask, http: HttpServer
) -> None:
    ep = endpoint(http.url)
    event()
    now = utcnow()
    batch = claims.claim_outbox(db.session, "webhook", now)
    assert len(batch) == 1
    db.session.execute(
        sa.update(WebhookEndpoint).where(WebhookEndpoint.id == ep.id).values(enabled=False)
    )
    db.session.commit()
    with webhooks.new_http_session() as session:
        assert webhooks.deliver_batch(db.session, batch, now, session) == 0
    (row,) = rows()
    assert row.status == "dead" and row.attempts == 0  # never tried, so no attempt counted
    assert row.last_error and row.last_error.startswith("webhook endpoint disabled")
    assert http.receiver.requests == []


def test_an_endpoint_disabled_by_a_410_fails_its_other_messages_at_once(
    ctx: Flask, http: HttpServer
) -> None:
    endpoint(http.url)
    event()
    event()
    http.receiver.answers = [(410, {})]
    deliver(ctx)
    first, second = rows()
    assert first.status == "dead" and "410" in (first.last_error or "")
    assert second.status == "dead" and second.attempts == 0
    assert "webhook endpoint disabled (410 Gone" in (second.last_error or "")
    assert len(http.receiver.requests) == 1


def test_the_admin_retries_a_failed_message_once_the_endpoint_is_enabled(
    app: Flask, http: HttpServer
) -> None:
    client = admin_client(app)
    with app.app_context():
        ep_id = endpoint(http.url).id
        event()
    post_form(client, "/admin/webhooks", {}, action=f"/admin/webhooks/{ep_id}/disable")
    with app.app_context():
        (row,) = rows()
        msg_id = row.id
        assert row.status == "dead"
    failed = client.get("/admin/outbox", query_string={"status": "dead"}).text
    assert f"/admin/outbox/{msg_id}/retry" in failed and "webhook endpoint disabled" in failed
    assert "No pending messages" in client.get("/admin/outbox").text

    # While the endpoint is off, a retry would only fail again: the page says what to do.
    early = post_form(
        client,
        "/admin/outbox?status=dead",
        {},
        action=f"/admin/outbox/{msg_id}/retry",
        follow_redirects=True,
    )
    assert f"enable webhook endpoint {ep_id} first" in early.text
    with app.app_context():
        assert rows()[0].status == "dead"

    # Enabling the endpoint again sends what was held while it was off: nothing is lost.
    enabled = post_form(
        client,
        "/admin/webhooks",
        {},
        action=f"/admin/webhooks/{ep_id}/enable",
        follow_redirects=True,
    )
    assert "1 message(s) held while it was disabled are sent again" in enabled.text
    with app.app_context():
        assert rows()[0].status == "pending"
        assert deliver(app) == 1
        (row,) = rows()
        assert row.status == "sent" and row.attempts == 1
        assert fresh_endpoint(ep_id).enabled
    assert len(http.receiver.requests) == 1


def test_enabling_again_leaves_real_delivery_failures_for_a_manual_retry(
    ctx: Flask, http: HttpServer
) -> None:
    ep = endpoint(http.url)
    event()
    db.session.execute(
        sa.update(OutboxMessage).values(status="dead", last_error="HTTP 500 after 8 attempts")
    )
    db.session.commit()
    webhooks.set_enabled(db.session, ep, False)
    assert webhooks.set_enabled(db.session, ep, True) == 0
    db.session.commit()
    (row,) = rows()
    assert row.status == "dead" and row.last_error == "HTTP 500 after 8 attempts"


# --- the due-soon warning must be shorter than every SLA ----------------------------------------


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"sla_warning_hours": 100.0}, "the exception SLA at level 1 (8 business hours)"),
        ({"sla_warning_hours": 8.0}, "the exception SLA at level 1 (8 business hours)"),
        (
            {"sla_warning_hours": 6.0, "sla_hours_2": 5.0},
            "the conflict SLA at level 2 (5 business hours)",
        ),
        ({"sla_warning_hours": 7.5}, None),
    ],
)
def test_the_warning_is_checked_against_the_shortest_sla(
    changes: dict[str, Any], fragment: str | None
) -> None:
    checked, errors = check_policy_input(typed_input(**changes))
    if fragment is None:
        assert errors == {} and checked is not None
        return
    assert checked is None and list(errors) == ["sla_warning_hours"]
    (message,) = errors["sla_warning_hours"]
    assert message.startswith("The due-soon warning must be shorter than the shortest SLA")
    assert fragment in message


def test_the_policy_page_refuses_a_warning_longer_than_the_slas(app: Flask) -> None:
    client = admin_client(app)
    with app.app_context():
        before = db.session.execute(sa.select(sa.func.count(PolicyVersion.id))).scalar_one()
        base = db.session.execute(sa.select(sa.func.max(PolicyVersion.version))).scalar_one()
    resp = post_form(
        client,
        "/admin/policy",
        form_data(sla_warning_hours="100", base_version=str(base or 1)),
    )
    assert resp.status_code == 422
    block = resp.text[resp.text.index('id="sla_warning_hours"') :]
    assert "must be shorter than the shortest SLA" in block[: block.index('<div class="field')]
    with app.app_context():
        after = db.session.execute(sa.select(sa.func.count(PolicyVersion.id))).scalar_one()
    assert after == before


# --- the publish error in plain words -----------------------------------------------------------


def _future() -> str:
    return (utcnow().date() + timedelta(days=30)).isoformat()


def test_publishing_in_the_future_is_refused_in_plain_words(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        districts()
        publish_rows(BASE_ROWS)
        admin = make_user("admin")
        _token, secret = make_api_token(admin)
        db.session.commit()
        email = admin.email
    future = _future()
    expected = f"the effective date {future} is in the future; publish the draft on that day"

    login(client, email)
    page = post_form(
        client,
        "/admin/lists",
        {
            "file": (io.BytesIO(csv_bytes(BASE_ROWS[:1])), "accounts.csv"),
            "publish": "y",
            "effective_from": future,
        },
        content_type="multipart/form-data",
    )
    assert page.status_code == 422
    assert f"Nothing was imported: {expected}" in page.text
    assert "effective_from 20" not in page.text

    api = client.post(
        f"/api/v1/named-account-lists?publish=true&effective_from={future}",
        data=csv_bytes(BASE_ROWS[:1]),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "text/csv"},
    )
    assert api.status_code == 422
    message = api.get_json()["error"]["message"]
    assert message.startswith(f"Nothing was imported: {expected}") and message.endswith(".")
    assert "effective_from" not in message


def test_the_cli_says_the_effective_date_in_plain_words(app: Flask, tmp_path: Path) -> None:
    from conflict.list_cli import accounts_cli

    path = tmp_path / "accounts.csv"
    path.write_bytes(csv_bytes(BASE_ROWS))
    future = _future()
    result = app.test_cli_runner().invoke(
        accounts_cli, ["import", str(path), "--publish", "--effective-from", future]
    )
    assert result.exit_code == 2
    assert f"Error: the effective date {future} is in the future" in result.output
    assert "effective_from" not in result.output


def test_an_effective_date_before_the_current_one_reads_plainly(ctx: Flask) -> None:
    from conflict.lists import ListError, import_list, publish

    districts()
    current = publish_rows(BASE_ROWS)
    draft = import_list(db.session, csv_bytes(BASE_ROWS[:1]), actor_id=None).version
    assert draft is not None and current.effective_from is not None
    earlier = current.effective_from - timedelta(days=10)
    with pytest.raises(ListError) as refused:
        publish(db.session, draft, effective_from=earlier, actor_id=None)
    assert str(refused.value) == (
        f"the effective date {earlier} is before the current version's ({current.effective_from})"
    )


# --- long unbroken text ------------------------------------------------------------------------


def _declarations(selector: str) -> str:
    """Return every declaration the stylesheet gives one selector, comments left out."""
    css = re.sub(r"/\*.*?\*/", "", CSS.read_text(encoding="utf-8"), flags=re.S)
    return " ".join(
        body
        for selectors, body in re.findall(r"([^{}]+)\{([^}]*)\}", css)
        if selector in [s.strip() for s in selectors.split(",")]
    )


@pytest.mark.parametrize(
    ("selector", "declarations"),
    [
        (".prewrap", ["white-space: pre-wrap", "overflow-wrap: anywhere"]),
        (".notes", ["white-space: pre-wrap", "overflow-wrap: anywhere"]),
        ("h1", ["overflow-wrap: anywhere"]),
        ("p", ["overflow-wrap: anywhere"]),
        ("td", ["overflow-wrap: break-word", "max-width: 24rem"]),
    ],
)
def test_user_text_breaks_instead_of_widening(selector: str, declarations: list[str]) -> None:
    found = _declarations(selector)
    assert all(d in found for d in declarations), found
