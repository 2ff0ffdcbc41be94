"""Input read as a person means it: filters that fail, codes with spaces, plain messages."""

import re
from types import SimpleNamespace

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conflict.schemas import RegistrationCreate, field_message
from models.db import db
from tests.conflict.test_registration_pages import register
from tests.factories import (
    csrf_from,
    login,
    make_api_token,
    make_district,
    make_registration,
    make_user,
)


@pytest.fixture()
def people(app: Flask) -> SimpleNamespace:
    with app.app_context():
        make_district("northeast", "east")
        partner = make_user("partner")
        make_registration(partner, customer_name="Approved Co", status="approved")
        make_registration(partner, customer_name="Contested Co", status="in_conflict")
        token = make_api_token(partner)[1]
        db.session.commit()
        return SimpleNamespace(partner=partner.email, token=token)


def test_a_bad_filter_lists_nothing_instead_of_everything(
    client: FlaskClient, people: SimpleNamespace
) -> None:
    login(client, people.partner)
    page = client.get("/registrations?status=in_conflict&submitted_from=2026-13-01")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Approved Co" not in text and "Contested Co" not in text
    assert "Correct the filters above to see the list." in text
    good = client.get("/registrations?status=in_conflict").get_data(as_text=True)
    assert "Contested Co" in good and "Approved Co" not in good


def test_a_date_range_that_ends_before_it_starts_is_refused(
    client: FlaskClient, people: SimpleNamespace
) -> None:
    login(client, people.partner)
    text = client.get("/registrations?submitted_from=2026-06-01&submitted_to=2026-05-01").get_data(
        as_text=True
    )
    assert "The end date is before the start date." in text
    assert "Approved Co" not in text
    csv = client.get("/registrations.csv?submitted_from=2026-06-01&submitted_to=2026-05-01")
    assert csv.status_code == 400


def test_the_form_reads_a_country_code_with_spaces_as_the_api_does(
    app: Flask, client: FlaskClient, people: SimpleNamespace
) -> None:
    login(client, people.partner)
    reg_id = register(client, customer_name="Spaced Country GmbH", country=" de ")
    body = client.get(
        f"/api/v1/registrations/{reg_id}", headers={"Authorization": f"Bearer {people.token}"}
    ).get_json()
    assert body["country"] == "DE"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("country", "USA", "use a two-letter country code such as US"),
        ("customer_domain", "not a domain!!", "enter a web domain such as contoso.com"),
        ("customer_domain", "gmail.com", "free-mail domains such as gmail.com"),
        ("customer_name", " ", "use at least 2 characters"),
    ],
)
def test_validation_messages_say_what_to_fix(field: str, value: str, message: str) -> None:
    body = {"customer_name": "Initech", "workloads": ["azure"], field: value}
    with pytest.raises(ValueError) as caught:
        RegistrationCreate.model_validate(body)
    errors = caught.value.errors()  # type: ignore[attr-defined]
    said = [field_message(str(e["msg"])) for e in errors if e["loc"][0] == field]
    assert said and message in said[0]


def test_the_api_refuses_a_date_range_that_runs_backwards(
    client: FlaskClient, people: SimpleNamespace
) -> None:
    resp = client.get(
        "/api/v1/registrations?submitted_from=2026-12-01&submitted_to=2026-01-01",
        headers={"Authorization": f"Bearer {people.token}"},
    )
    assert resp.status_code == 422
    assert "the end date is before the start date" in str(resp.get_json()["error"]["details"])


def test_blank_optional_fields_stay_quiet_when_another_field_fails(
    client: FlaskClient, people: SimpleNamespace
) -> None:
    login(client, people.partner)
    page = client.get("/registrations/new").get_data(as_text=True)
    nonce = re.search(r'name="nonce" type="hidden" value="([^"]+)"', page)
    assert nonce is not None
    resp = client.post(
        "/registrations/new",
        data={
            "csrf_token": csrf_from(page),
            "nonce": nonce.group(1),
            "customer_name": "Quiet Fields Ltd",
            "country": "US",
            "pc_count": "",
            "estimated_value": "",
            "expected_close_date": "",
        },
    )
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "Choose at least one workload." in text
    for wrong in ("Enter a whole number.", "Enter a date as YYYY-MM-DD."):
        assert wrong not in text
    # The failing field's message is read with it.
    assert 'aria-describedby="workloads-help workloads-error-0"' in text
    assert 'id="workloads-error-0"' in text


def test_a_field_macro_ties_its_error_to_the_input(
    client: FlaskClient, people: SimpleNamespace
) -> None:
    login(client, people.partner)
    page = client.get("/registrations/new").get_data(as_text=True)
    resp = client.post(
        "/registrations/new",
        data={"csrf_token": csrf_from(page), "customer_name": "", "workloads": ["azure"]},
    )
    text = resp.get_data(as_text=True)
    tag = re.search(r'<input[^>]*id="customer_name"[^>]*>', text)
    assert tag is not None
    assert 'aria-describedby="customer_name-help customer_name-error-0"' in tag.group(0)
    assert 'id="customer_name-error-0"' in text
