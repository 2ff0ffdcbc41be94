"""The no-bid override request on the registration page."""

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from conflict.schemas import RegistrationCreate
from conflict.service import submit_registration
from models import Registration, Ticket
from models.db import db
from tests.factories import csrf_from, login, make_district, make_user


def _blocked(app: Flask) -> tuple[int, str, str]:
    with app.app_context():
        make_district("northeast", "east")
        partner = make_user("partner")
        submit_registration(
            db.session,
            RegistrationCreate(
                customer_name="Humongous Insurance", workloads=["dotnet_server"], pc_count=4500
            ),
            user=partner,
        )
        seller = make_user("mcs")
        reg = submit_registration(
            db.session,
            RegistrationCreate(
                customer_name="Humongous Insurance", workloads=["azure"], pc_count=4500
            ),
            user=seller,
        ).registration
        db.session.commit()
        assert reg.status == "rejected"
        return reg.id or 0, seller.email, partner.email


def test_blocked_mcs_engagement_can_ask_for_a_national_override(
    app: Flask, client: FlaskClient
) -> None:
    reg_id, seller, _ = _blocked(app)
    login(client, seller)
    page = client.get(f"/registrations/{reg_id}").get_data(as_text=True)
    assert "Ask for a national override" in page
    short = client.post(
        f"/registrations/{reg_id}/override",
        data={"override-reason": "why", "csrf_token": csrf_from(page)},
    )
    assert short.status_code == 422
    resp = client.post(
        f"/registrations/{reg_id}/override",
        data={
            "override-reason": "The customer asked MCS to lead the .NET architecture.",
            "csrf_token": csrf_from(page),
        },
    )
    assert resp.status_code == 303
    with app.app_context():
        reg = db.session.get(Registration, reg_id)
        assert reg is not None and reg.status == "in_exception_review"
        ticket = db.session.execute(
            sa.select(Ticket).where(Ticket.registration_id == reg_id)
        ).scalar_one()
        assert ticket.type == "exception" and ticket.rule == "NO_BID_DOTNET"
    after = client.get(f"/registrations/{reg_id}").get_data(as_text=True)
    assert "Ask for a national override" not in after


def test_partners_cannot_reach_the_override(app: Flask, client: FlaskClient) -> None:
    reg_id, _, partner = _blocked(app)
    login(client, partner)
    page = client.get("/registrations").get_data(as_text=True)
    resp = client.post(
        f"/registrations/{reg_id}/override",
        data={"override-reason": "let me through please", "csrf_token": csrf_from(page)},
    )
    assert resp.status_code == 404
