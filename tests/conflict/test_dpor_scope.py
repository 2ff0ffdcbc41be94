"""Partner of record and seat credits: a reviewer's reach, dead deals, evidence used once."""

from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from conflict import dpor
from models import DporDesignation, SeatCredit, User
from models.db import db
from tests.factories import csrf_from, login, make_district, make_registration, make_user


@pytest.fixture()
def far(app: Flask) -> SimpleNamespace:
    """Deere registered in the Great Lakes; a Northeast reviewer; an expired Contoso deal."""
    with app.app_context():
        make_district("northeast", "east")
        make_district("great_lakes", "central")
        admin = make_user("admin")
        reviewer = make_user("reviewer", level=1, districts=["northeast"])
        national = make_user("reviewer", level=3, districts=[])
        alice = make_user("partner")
        deere = make_registration(
            alice,
            customer_name="Deere & Company",
            customer_key=dpor.customer_key_for("Deere & Company"),
            district="great_lakes",
            workloads=["sharepoint"],
        )
        expired = make_registration(
            alice,
            customer_name="Contoso",
            customer_key=dpor.customer_key_for("Contoso"),
            district="northeast",
            workloads=["exchange"],
            status="expired",
        )
        db.session.commit()
        return SimpleNamespace(
            admin=admin.email,
            reviewer=reviewer.email,
            national=national.email,
            partner_id=alice.partner_id,
            deere=deere.id,
            expired=expired.id,
        )


def _token(client: FlaskClient) -> str:
    return csrf_from(client.get("/queue").get_data(as_text=True))


def test_a_district_reviewer_neither_reads_nor_works_a_customer_elsewhere(
    app: Flask, client: FlaskClient, far: SimpleNamespace
) -> None:
    login(client, far.reviewer)
    page = client.get("/customers?name=Deere %26 Company").get_data(as_text=True)
    assert "No registration of your territory is on this customer." in page
    assert f"/registrations/{far.deere}" not in page
    token = _token(client)
    designate = {
        "csrf_token": token,
        "dpor-customer_name": "Deere & Company",
        "dpor-workload": "sharepoint",
        "dpor-partner_id": far.partner_id,
    }
    assert client.post("/customers/dpor", data=designate).status_code == 404
    credit = {
        "csrf_token": token,
        "credit-customer_name": "Deere & Company",
        "credit-partner_id": far.partner_id,
        "credit-workload": "sharepoint",
        "credit-seats": "10",
        "credit-source": "csp",
        "credit-evidence_ref": "CSP-9",
    }
    assert client.post("/customers/seat-credits", data=credit).status_code == 404
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count(DporDesignation.id))).scalar() == 0
        assert db.session.execute(sa.select(sa.func.count(SeatCredit.id))).scalar() == 0
    national = app.test_client()
    login(national, far.national)
    page = national.get("/customers?name=Deere %26 Company").get_data(as_text=True)
    assert f"/registrations/{far.deere}" in page
    assert national.post("/customers/dpor", data=designate | {"csrf_token": _token(national)})
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count(DporDesignation.id))).scalar() == 1


def test_no_partner_of_record_on_a_dead_registration(
    app: Flask, client: FlaskClient, far: SimpleNamespace
) -> None:
    login(client, far.admin)
    page = client.get(f"/registrations/{far.expired}").get_data(as_text=True)
    assert "Record partner of record" not in page and "This registration is expired" in page
    data = {
        "csrf_token": csrf_from(page),
        "dpor-workload": "exchange",
        "dpor-partner_id": far.partner_id,
    }
    client.post(f"/registrations/{far.expired}/dpor", data=data)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count(DporDesignation.id))).scalar() == 0


def test_the_same_evidence_credits_seats_once(app: Flask, far: SimpleNamespace) -> None:
    with app.app_context():
        admin = db.session.execute(sa.select(User).where(User.email == far.admin)).scalar_one()
        args = {
            "user": admin,
            "partner_id": far.partner_id,
            "customer_name": "Contoso",
            "workload": "exchange",
            "seats": 250,
            "source": "csp",
            "evidence_ref": "CSP-123",
        }
        dpor.record_seat_credit(db.session, **args)  # type: ignore[arg-type]
        with pytest.raises(dpor.DporError, match="already credited") as err:
            dpor.record_seat_credit(db.session, **args)  # type: ignore[arg-type]
        assert err.value.field == "evidence_ref"
        # Other evidence for the same seats' workload is a credit of its own.
        dpor.record_seat_credit(db.session, **args | {"evidence_ref": "CSP-124"})  # type: ignore[arg-type]
        assert dpor.partner_credits(db.session, far.partner_id).total == 500
