"""The expiry job tells the registering organisation, once, that a registration has expired."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask

from conflict.registrations import expire_registrations
from escalation.mailer import render_bodies
from models import OutboxMessage, Registration, WebhookEndpoint
from models.db import db
from tests.factories import make_partner, make_registration, make_user

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def messages(channel: str, event: str = "registration.expired") -> list[OutboxMessage]:
    """Return the queued messages of one channel and event, oldest first."""
    return list(
        db.session.execute(
            sa.select(OutboxMessage)
            .where(OutboxMessage.channel == channel, OutboxMessage.event == event)
            .order_by(OutboxMessage.id)
        ).scalars()
    )


def test_the_partners_active_users_are_told_once(ctx: Flask) -> None:
    partner = make_partner("Fabrikam Partners")
    submitter = make_user("partner", partner_id=partner.id)
    colleague = make_user("partner", partner_id=partner.id)
    make_user("partner", partner_id=partner.id, is_active=False)
    make_user("partner")  # another organisation
    ran_out = NOW - timedelta(hours=1)
    reg = make_registration(submitter, customer_name="Contoso", expires_at=ran_out)
    make_registration(submitter, customer_name="Later", expires_at=NOW + timedelta(days=30))
    db.session.add(WebhookEndpoint(url="https://hooks.example.com/x", secret="s" * 20))
    db.session.commit()

    assert expire_registrations(db.session, NOW) == 1
    db.session.commit()

    mail = messages("email")
    assert [m.recipient_user_id for m in mail] == [submitter.id, colleague.id]
    first = mail[0]
    assert first.template == "registration_expired" and first.status == "pending"
    assert first.subject == f"Registration #{reg.id} for Contoso has expired"
    assert first.context["headline"] == "Your registration for Contoso has expired."
    assert first.context["registration_id"] == reg.id
    assert first.context["url"] == f"http://localhost/registrations/{reg.id}"
    (hook,) = messages("webhook")
    assert hook.context["type"] == "registration.expired"
    assert hook.context["data"] == {
        "registration_id": reg.id,
        "status": "expired",
        "party": "partner",
        "partner_id": partner.id,
        "expires_at": hook.context["data"]["expires_at"],
    }
    assert datetime.fromisoformat(hook.context["data"]["expires_at"]) == ran_out

    # Expired once: later runs find nothing to tell.
    assert expire_registrations(db.session, NOW + timedelta(hours=1)) == 0
    db.session.commit()
    assert len(messages("email")) == 2 and len(messages("webhook")) == 1
    expired = db.session.get(Registration, reg.id)
    assert expired is not None
    db.session.refresh(expired)
    assert expired.status == "expired"


def test_an_mcs_registration_tells_its_submitter_alone(ctx: Flask) -> None:
    seller = make_user("mcs")
    make_user("mcs")  # a colleague on the direct side hears nothing
    gone = make_user("mcs", is_active=False)
    reg = make_registration(seller, customer_name="Tailspin", expires_at=NOW - timedelta(days=1))
    make_registration(gone, customer_name="Northwind", expires_at=NOW - timedelta(days=1))
    db.session.commit()

    assert expire_registrations(db.session, NOW) == 2
    db.session.commit()

    (only,) = messages("email")
    assert only.recipient_user_id == seller.id
    assert only.subject == f"Registration #{reg.id} for Tailspin has expired"
    assert messages("webhook") == []  # no endpoint is configured


def test_the_notice_renders_in_text_and_html(ctx: Flask) -> None:
    context = {
        "headline": "Your registration for Contoso & Co has expired.",
        "lines": ["Register the deal again if you are still working on it."],
        "url": "http://localhost/registrations/7",
        "registration_id": 7,
        "customer_name": "Contoso & Co",
        "due_at": "2026-03-02T15:00:00+00:00",
    }
    text, html = render_bodies("registration_expired", "Registration #7 has expired", context)
    assert "A registration has expired (Contoso & Co)." in text
    assert "It expired on 2026-03-02 15:00 UTC." in text
    assert "Open the registration: http://localhost/registrations/7" in text
    assert "It expired on <strong>2026-03-02 15:00 UTC</strong>." in html
    assert "Contoso &amp; Co" in html
