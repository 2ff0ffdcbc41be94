"""An organisation cannot register again a deal it already holds (same customer, same work)."""

import json
from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conflict.schemas import RegistrationCreate
from conflict.service import SubmissionError, submit_registration, withdraw_registration
from models.db import db
from tests.conflict.test_registration_form import VALID, count_registrations, field_block, submit
from tests.factories import csrf_from, login, make_district, make_list, make_user


@pytest.fixture()
def people(app: Flask) -> SimpleNamespace:
    with app.app_context():
        make_district("northeast", "east")
        make_user("reviewer", districts=["northeast"])
        make_list([{"name": "Caterpillar Inc.", "domain": "caterpillar.com"}])
        alice = make_user("partner")
        colleague = make_user("partner", partner_id=alice.partner_id)
        db.session.commit()
        return SimpleNamespace(alice=alice.email, colleague=colleague.email)


def test_a_colleague_registering_the_same_deal_is_told_beside_the_customer(
    app: Flask, client: FlaskClient, people: SimpleNamespace
) -> None:
    login(client, people.alice)
    first = submit(client, VALID)
    assert first.status_code == 303
    reg_id = int(first.headers["Location"].rsplit("/", 1)[1])
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/profile").get_data(True))})

    login(client, people.colleague)
    again = submit(client, {**VALID, "customer_name": "Wayne Enterprises Inc."})
    assert again.status_code == 422
    block = field_block(again.get_data(as_text=True), "customer_name")
    assert f"already holds registration #{reg_id}" in block and "Exchange" in block
    assert count_registrations(app) == 1

    # The live check says the same before the colleague submits.
    token = csrf_from(client.get("/registrations/new").get_data(as_text=True))
    live = client.post(
        "/registrations/precheck",
        data=json.dumps({"customer_name": "Wayne Enterprises", "workloads": ["exchange"]}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert f"already holds registration #{reg_id}" in live.get_json()["verdict"]


def test_mcs_cannot_open_a_second_engagement_for_the_same_work(ctx: Flask) -> None:
    make_district("northeast", "east")
    seller, other_seller = make_user("mcs"), make_user("mcs")
    body = {"customer_name": "Big Iron Works", "pc_count": 9_000, "workloads": ["azure"]}
    first = submit_registration(
        db.session, RegistrationCreate.model_validate(body), user=seller
    ).registration
    db.session.commit()
    with pytest.raises(SubmissionError, match=f"#{first.id}"):
        submit_registration(db.session, RegistrationCreate.model_validate(body), user=other_seller)
    db.session.rollback()
    withdraw_registration(db.session, first, user=seller, reason="Customer went elsewhere.")
    db.session.commit()
    again = submit_registration(db.session, RegistrationCreate.model_validate(body), user=seller)
    assert again.created and again.registration.id != first.id
