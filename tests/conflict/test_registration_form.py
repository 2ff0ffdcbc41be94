"""The registration form: fields, validation beside each field, and submitting exactly once."""

import html
import re
import threading
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from conflict.forms import RegistrationForm
from conflict.schemas import MAX_ESTIMATED_VALUE, RegistrationCreate, close_date_window
from models import District, Registration, utcnow
from models.db import db
from tests.factories import csrf_from, login, make_district, make_list, make_user

FORM = "/registrations/new"
# A close date the form accepts whenever the suite runs: a few months ahead.
CLOSE = (utcnow().date() + timedelta(days=120)).isoformat()
VALID: dict[str, Any] = {
    "customer_name": "Wayne Enterprises",
    "customer_domain": "https://www.wayneenterprises.com/about",
    "district": "northeast",
    "country": "US",
    "pc_count": "1200",
    "workloads": ["exchange", "sharepoint"],
    "solution_stack": "all_microsoft",
    "estimated_value": "90000",
    "expected_close_date": CLOSE,
    "infrastructure_maturity": "standardized",
    "notes": "Replacing an old mail system.",
}


@pytest.fixture()
def partner(app: Flask) -> SimpleNamespace:
    with app.app_context():
        make_district("northeast", "east")
        make_user("reviewer", districts=["northeast"])
        make_list([{"name": "Caterpillar Inc.", "domain": "caterpillar.com"}])
        user = make_user("partner")
        db.session.commit()
        return SimpleNamespace(id=user.id, email=user.email, partner_id=user.partner_id)


def open_form(client: FlaskClient) -> tuple[str, str, str]:
    """GET the form; return its HTML, CSRF token and nonce."""
    page = client.get(FORM)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    nonce = re.search(r'name="nonce" type="hidden" value="([^"]+)"', body)
    assert nonce is not None
    return body, csrf_from(body), nonce.group(1)


def submit(client: FlaskClient, data: dict[str, Any], **kw: Any) -> Any:
    _, token, nonce = open_form(client)
    return client.post(FORM, data={"csrf_token": token, "nonce": nonce, **data}, **kw)


def field_block(body: str, field_id: str) -> str:
    """Return the text of the form group holding a field (its label, help and errors)."""
    start = body.index(f'id="{field_id}"')
    opening = max(body.rfind('<div class="field', 0, start), body.rfind("<fieldset", 0, start))
    end = min(
        i
        for i in (
            body.find('<div class="field', start),
            body.find("</fieldset>", start),
            body.find("</section>", start),
        )
        if i > 0
    )
    return html.unescape(body[opening:end])


def count_registrations(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Registration)).scalar_one()


def test_form_is_labelled_and_accessible(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    login(client, partner.email)
    page = client.get(FORM)
    body = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    for field_id in (
        "customer_name",
        "customer_domain",
        "district",
        "country",
        "pc_count",
        "solution_stack",
        "estimated_value",
        "expected_close_date",
        "infrastructure_maturity",
        "notes",
    ):
        assert re.search(rf'<label for="{field_id}">', body), field_id
        assert f'aria-describedby="{field_id}-help"' in body, field_id
    assert re.search(r'<label class="check"><input [^>]*id="dotnet_early_adoption"', body)
    assert "<legend>Workloads</legend>" in body
    for i, label in enumerate(["NET servers", "Middleware", "Windows Server", "SQL Server"]):
        assert f'<label for="workloads-{i}">' in body and label in body
    assert 'aria-live="polite"' in body and 'id="precheck"' in body
    assert ">Submit registration</button>" in body
    assert 'value="northeast">Northeast (northeast)</option>' in body
    assert "common standards and some processes" in body  # maturity model help
    assert "/static/js/precheck.js" in body and "<script>" not in body


def test_valid_submission_redirects_to_the_decision(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    login(client, partner.email)
    resp = submit(client, VALID)
    assert resp.status_code == 303
    reg_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        reg = db.session.get(Registration, reg_id)
        assert reg is not None
        assert reg.status == "approved" and reg.partner_id == partner.partner_id
        assert reg.customer_domain == "wayneenterprises.com"
        assert reg.workloads == ["exchange", "sharepoint"]
        assert reg.pc_count == 1200 and reg.estimated_value == 90000
        assert reg.infrastructure_maturity == "standardized"
        assert str(reg.expected_close_date) == CLOSE
    page = client.get(resp.headers["Location"])
    assert page.status_code == 200 and b"Approved" in page.data


INVALID = [
    ("customer_name", "", "customer_name", "Enter the customer's name."),
    ("customer_name", "A", "customer_name", "between 2 and 300"),
    ("customer_name", "x" * 301, "customer_name", "between 2 and 300"),
    ("customer_domain", "gmail.com", "customer_domain", "free-mail"),
    (
        "customer_domain",
        "not a domain",
        "customer_domain",
        "Enter a web domain such as contoso.com",
    ),
    ("customer_domain", "a" * 250 + ".com", "customer_domain", "at most 253"),
    ("district", "atlantis", "district", "Choose one of the options offered"),
    ("country", "", "country", "two-letter country code"),
    ("country", "USA", "country", "two-letter country code"),
    ("country", "1X", "country", "two-letter country code"),
    ("country", "ZZ", "country", "ZZ is not an ISO 3166-1 country code"),
    ("country", "uk", "country", "UK is not an ISO 3166-1 country code"),
    ("pc_count", "-1", "pc_count", "from 0 to 10,000,000"),
    ("pc_count", "10000001", "pc_count", "from 0 to 10,000,000"),
    ("pc_count", "lots", "pc_count", "Enter a whole number"),
    ("workloads", [], "workloads-0", "Choose at least one workload."),
    ("workloads", ["teleportation"], "workloads-0", "is not one of the options offered"),
    ("solution_stack", "cheapest", "solution_stack", "Choose one of the options offered"),
    ("estimated_value", "-5", "estimated_value", "Enter a whole amount from 0 to 2,147,483,647."),
    ("estimated_value", "5000000000", "estimated_value", "from 0 to 2,147,483,647."),
    ("estimated_value", "10000000001", "estimated_value", "from 0 to 2,147,483,647."),
    ("estimated_value", "1.5", "estimated_value", "Enter a whole number"),
    ("expected_close_date", "31/12/2030", "expected_close_date", "Enter a date as YYYY-MM-DD"),
    ("expected_close_date", "2020-01-01", "expected_close_date", "Enter a close date from today"),
    ("expected_close_date", "9999-12-31", "expected_close_date", "to 5 years ahead"),
    (
        "infrastructure_maturity",
        "chaotic",
        "infrastructure_maturity",
        "Choose one of the options offered",
    ),
    ("notes", "x" * 4001, "notes", "at most 4,000"),
    # PostgreSQL text cannot hold NUL: both databases refuse it beside the field, unwritten.
    ("customer_name", "Way\x00ne", "customer_name", "Remove the NUL character"),
    ("notes", "fine\x00print", "notes", "Remove the NUL character"),
]


@pytest.mark.parametrize(
    ("name", "value", "field_id", "message"),
    INVALID,
    ids=[f"{n}-{i}" for i, (n, *_rest) in enumerate(INVALID)],
)
def test_each_field_is_validated_beside_the_field(
    app: Flask,
    client: FlaskClient,
    partner: SimpleNamespace,
    name: str,
    value: Any,
    field_id: str,
    message: str,
) -> None:
    login(client, partner.email)
    resp = submit(client, {**VALID, name: value})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    block = field_block(body, field_id)
    assert message in block, block
    assert 'class="error" role="alert"' in block
    assert "Input should" not in block, "a validator's raw message reached the page"
    assert count_registrations(app) == 0
    # What the user typed is kept so only the bad field needs fixing.
    assert html.escape(VALID["customer_name"]) in body or name == "customer_name"


def test_schema_rules_are_shown_with_the_other_field_errors(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    login(client, partner.email)
    bad = {**VALID, "customer_name": "A", "country": "ZZ", "expected_close_date": "2020-01-01"}
    resp = submit(client, bad)
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    # One submission names every problem, not one more per attempt.
    assert "between 2 and 300" in field_block(body, "customer_name")
    assert "not an ISO 3166-1 country code" in field_block(body, "country")
    assert "Enter a close date from today" in field_block(body, "expected_close_date")
    assert count_registrations(app) == 0


def test_estimated_value_has_one_limit_everywhere(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    # The column is a 32-bit INTEGER: the form, the page and the API all stop at its top.
    column = Registration.__table__.c.estimated_value.type  # type: ignore[attr-defined]
    assert isinstance(column, sa.Integer) and not isinstance(column, sa.BigInteger)
    assert MAX_ESTIMATED_VALUE == 2**31 - 1
    schema = RegistrationCreate.model_json_schema()["properties"]["estimated_value"]
    assert schema["anyOf"][0]["maximum"] == MAX_ESTIMATED_VALUE
    with app.test_request_context():
        (number_range,) = [
            v for v in RegistrationForm.estimated_value.kwargs["validators"] if hasattr(v, "max")
        ]
    assert number_range.max == MAX_ESTIMATED_VALUE
    login(client, partner.email)
    body, _token, _nonce = open_form(client)
    block = field_block(body, "estimated_value")
    assert re.search(r'<input [^>]*id="estimated_value"[^>]* max="2147483647"', block), block
    assert "up to 2,147,483,647" in block
    resp = submit(client, {**VALID, "estimated_value": str(MAX_ESTIMATED_VALUE)})
    assert resp.status_code == 303
    with app.app_context():
        stored = db.session.execute(sa.select(Registration.estimated_value)).scalar_one()
    assert stored == MAX_ESTIMATED_VALUE


def test_close_date_runs_from_today_to_five_years_ahead(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    # The clock stands still so the window cannot move under the test at midnight.
    with time_machine.travel(utcnow(), tick=False):
        today = utcnow().date()
        _earliest, horizon = close_date_window()
        assert horizon.year == today.year + 5
        login(client, partner.email)
        body, _token, _nonce = open_form(client)
        block = field_block(body, "expected_close_date")
        assert f'max="{horizon.isoformat()}"' in block
        assert "from today to 5 years ahead" in block
        for i, close in enumerate([today, horizon]):
            data = {**VALID, "customer_name": f"Window Co {i}", "customer_domain": f"window{i}.com"}
            data["expected_close_date"] = str(close)
            assert submit(client, data).status_code == 303, close
        for close in [today - timedelta(days=2), horizon + timedelta(days=1)]:
            resp = submit(client, {**VALID, "expected_close_date": close.isoformat()})
            assert resp.status_code == 422, close
            message = field_block(resp.get_data(as_text=True), "expected_close_date")
            assert f"no later than {horizon.isoformat()}" in message
    assert count_registrations(app) == 2


def test_early_dotnet_flag_needs_a_value_beside_the_value_field(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    login(client, partner.email)
    data = {**VALID, "dotnet_early_adoption": "y"}
    data.pop("estimated_value")
    resp = submit(client, data)
    assert resp.status_code == 422
    assert "needs an estimated value" in field_block(resp.get_data(as_text=True), "estimated_value")


def test_missing_nonce_is_refused_and_a_fresh_one_issued(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    login(client, partner.email)
    _, token, _nonce = open_form(client)
    resp = client.post(FORM, data={**VALID, "csrf_token": token})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "This form has expired" in body
    assert re.search(r'name="nonce" type="hidden" value="[^"]{16,}"', body)
    assert count_registrations(app) == 0


def test_missing_csrf_token_is_refused(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    login(client, partner.email)
    _, _token, nonce = open_form(client)
    resp = client.post(FORM, data={**VALID, "nonce": nonce})
    assert resp.status_code == 400
    assert count_registrations(app) == 0


def test_a_double_post_creates_one_registration(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    login(client, partner.email)
    _, token, nonce = open_form(client)
    data = {**VALID, "csrf_token": token, "nonce": nonce}
    first = client.post(FORM, data=data)
    second = client.post(FORM, data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count_registrations(app) == 1
    # A fresh form gets a fresh nonce and so registers another deal.
    third = submit(client, {**VALID, "customer_name": "Stark Industries", "customer_domain": ""})
    assert third.status_code == 303 and third.headers["Location"] != first.headers["Location"]
    assert count_registrations(app) == 2


def test_a_reused_nonce_with_changed_fields_says_so(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    login(client, partner.email)
    _, token, nonce = open_form(client)
    first = client.post(FORM, data={**VALID, "csrf_token": token, "nonce": nonce})
    changed = {**VALID, "customer_name": "Other Co", "csrf_token": token, "nonce": nonce}
    again = client.post(FORM, data=changed, follow_redirects=True)
    assert again.status_code == 200
    assert b"already been submitted" in again.data
    assert again.request.path == first.headers["Location"]
    assert count_registrations(app) == 1


def test_concurrent_posts_with_one_nonce_create_one_registration(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    login(client, partner.email)
    _, token, nonce = open_form(client)
    cookie = client.get_cookie("session")
    assert cookie is not None
    data = {**VALID, "csrf_token": token, "nonce": nonce}
    workers = 4
    barrier = threading.Barrier(workers)
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def post() -> None:
        other = app.test_client()
        other.set_cookie("session", cookie.value)
        try:
            barrier.wait(timeout=10)
            resp = other.post(FORM, data=data)
            results.append((resp.status_code, resp.headers.get("Location", "")))
        except BaseException as exc:  # surfaced below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert len(results) == workers
    assert {status for status, _ in results} == {303}
    assert len({location for _, location in results}) == 1
    assert count_registrations(app) == 1


def test_mcs_registers_an_mcs_engagement_through_the_same_form(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    with app.app_context():
        mcs = make_user("mcs")
        db.session.commit()
        email = mcs.email
    login(client, email)
    body = client.get(FORM).get_data(as_text=True)
    assert "Register an MCS engagement" in body
    resp = submit(client, {**VALID, "pc_count": "9000"})
    assert resp.status_code == 303
    with app.app_context():
        reg = db.session.execute(sa.select(Registration)).scalar_one()
        assert reg.party == "mcs" and reg.partner_id is None and reg.status == "approved"


@pytest.mark.parametrize("role", ["reviewer"])
def test_reviewers_do_not_get_the_form(
    app: Flask, client: FlaskClient, partner: SimpleNamespace, role: str
) -> None:
    with app.app_context():
        email = make_user(role).email
        db.session.commit()
    login(client, email)
    assert client.get(FORM).status_code == 403


def test_district_choices_come_from_the_district_table(
    app: Flask, client: FlaskClient, partner: SimpleNamespace
) -> None:
    with app.app_context():
        db.session.add(District(code="gulf", name="Gulf Coast", region="south"))
        db.session.commit()
    login(client, partner.email)
    body = client.get(FORM).get_data(as_text=True)
    assert 'value="gulf">Gulf Coast (gulf)</option>' in body
    assert submit(client, {**VALID, "district": "gulf"}).status_code == 303


def test_unique_constraint_backstop_redirects_to_the_winner(
    app: Flask, client: FlaskClient, partner: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conflict.service

    login(client, partner.email)
    _, token, nonce = open_form(client)
    data = {**VALID, "csrf_token": token, "nonce": nonce}
    first = client.post(FORM, data=data)
    # The service's own look-up misses, as when two posts pass it at the same moment; the copy
    # covers other workloads, so only the nonce's unique constraint stands in its way.
    monkeypatch.setattr(conflict.service, "find_by_idempotency_key", lambda *a: None)
    second = client.post(FORM, data={**data, "workloads": ["azure"]})
    assert second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert count_registrations(app) == 1


def test_a_repeated_post_that_waited_for_the_customer_lock_shows_the_first(
    app: Flask, client: FlaskClient, partner: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conflict.service

    login(client, partner.email)
    _, token, nonce = open_form(client)
    data = {**VALID, "csrf_token": token, "nonce": nonce}
    first = client.post(FORM, data=data)
    # The copy's first look-up ran before the original committed; inside the customer's lock
    # it finds the original as a deal its organisation holds, and that is this very post.
    real = conflict.service.find_by_idempotency_key
    misses = iter([None])
    monkeypatch.setattr(
        conflict.service, "find_by_idempotency_key", lambda *a: next(misses, None) or real(*a)
    )
    second = client.post(FORM, data=data)
    assert second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert count_registrations(app) == 1
