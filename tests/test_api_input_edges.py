"""API and form input at the edge: unreadable bodies, field messages, one-line text, cursors."""

import base64
import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from wtforms import PasswordField, StringField, TextAreaField

from conflict.schemas import RegistrationCreate, single_line_problem
from models import Registration, TicketEvent, utcnow
from models.base import MAX_ID
from models.db import db
from tests.factories import (
    login,
    make_api_token,
    make_district,
    make_registration,
    make_ticket,
    make_user,
    post_form,
)
from web.forms import Form

BODY: dict[str, Any] = {"customer_name": "Wayne Enterprises", "workloads": ["exchange"]}
JSON_POSTS = (
    "/api/v1/registrations",
    "/api/v1/conflict-check",
    "/api/v1/tickets/{ticket}/decision",
)


@pytest.fixture()
def world(app: Flask) -> SimpleNamespace:
    with app.app_context():
        make_district("northeast", "east")
        partner, admin = make_user("partner"), make_user("admin")
        reviewer = make_user("reviewer", districts=["northeast"])
        ticket = make_ticket(make_registration(partner, status="in_conflict"))
        ns = SimpleNamespace(
            partner=make_api_token(partner)[1],
            admin=make_api_token(admin)[1],
            reviewer=make_api_token(reviewer)[1],
            partner_email=partner.email,
            admin_email=admin.email,
            ticket=ticket.id,
        )
        db.session.commit()
        return ns


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _registrations(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Registration)).scalar_one()


def _token_for(world: SimpleNamespace, path: str) -> str:
    return world.reviewer if "decision" in path else world.partner


# --- 1. a body that is not JSON, or not sent as JSON ----------------------------------------


@pytest.mark.parametrize("path", JSON_POSTS)
@pytest.mark.parametrize(
    "raw",
    [b"{bad json", b'{"customer_name": "Acme",}', b"\xff\xfe{}", b""],
    ids=["unclosed", "trailing-comma", "not-utf8", "empty"],
)
def test_unparseable_json_is_a_400_saying_so(
    app: Flask, client: FlaskClient, world: SimpleNamespace, path: str, raw: bytes
) -> None:
    url = path.format(ticket=world.ticket)
    resp = client.post(
        url, data=raw, content_type="application/json", headers=_auth(_token_for(world, path))
    )
    assert resp.status_code == 400, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error["code"] == "invalid_json"
    assert error["message"].startswith("The request body is not valid JSON: ")
    assert "fields" not in error["details"], "a parse error is not a list of missing fields"
    assert _registrations(app) == 1


@pytest.mark.parametrize("path", JSON_POSTS)
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None],
)
def test_a_body_not_sent_as_json_is_refused_by_its_type(
    app: Flask,
    client: FlaskClient,
    world: SimpleNamespace,
    path: str,
    content_type: str | None,
) -> None:
    url = path.format(ticket=world.ticket)
    kwargs: dict[str, Any] = {"data": json.dumps(BODY)}
    if content_type == "multipart/form-data":
        kwargs = {"data": {"customer_name": "Acme"}, "content_type": content_type}
    elif content_type is not None:
        kwargs["content_type"] = content_type
    resp = client.post(url, headers=_auth(_token_for(world, path)), **kwargs)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert error == {
        "code": "unsupported_media_type",
        "message": "Send the body as application/json.",
        "details": {},
    }
    assert _registrations(app) == 1


@pytest.mark.parametrize("raw", ["[]", "null", "0", '"x"', "[1, 2]"])
def test_json_that_is_not_an_object_is_refused_as_such(
    client: FlaskClient, world: SimpleNamespace, raw: str
) -> None:
    resp = client.post(
        "/api/v1/registrations",
        data=raw,
        content_type="application/json",
        headers=_auth(world.partner),
    )
    assert resp.status_code == 422
    fields = resp.get_json()["error"]["details"]["fields"]
    assert list(fields) == ["body"] and "JSON object" in fields["body"]


def test_json_with_a_charset_or_a_json_suffix_type_is_read(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        resp = client.post(
            "/api/v1/conflict-check",
            data=json.dumps(BODY),
            content_type=content_type,
            headers=_auth(world.partner),
        )
        assert resp.status_code == 200, (content_type, resp.get_data(as_text=True))


def test_the_document_declares_what_the_api_answers(app: Flask) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    paths = doc["paths"]
    for path in (
        "/api/v1/registrations",
        "/api/v1/conflict-check",
        "/api/v1/tickets/{ticket_id}/decision",
    ):
        assert "400" in paths[path]["post"]["responses"], path
    for method in ("get", "post"):
        responses = paths["/api/v1/named-account-lists"][method]["responses"]
        assert {"401", "429"} <= set(responses), (method, sorted(responses))
    assert {"400", "401", "429"} <= set(paths["/api/v1/tickets"]["get"]["responses"])
    upload_params = {
        p["name"]: p for p in paths["/api/v1/named-account-lists"]["post"]["parameters"]
    }
    assert upload_params["publish"]["schema"]["type"] == "boolean"


# --- 2. field messages in the product's words, on the field they concern ---------------------


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"customer_domain": "gmail.com"}, "customer_domain", "own web domain"),
        ({"expected_close_date": "2001-01-01"}, "expected_close_date", "close date from today"),
        ({"pc_count": True}, "pc_count", "not true or false"),
        ({"dotnet_early_adoption": True}, "estimated_value", "needs an estimated value"),
        ({"customer_name": "Evil\r\nBcc: x@example.com\r\nCo"}, "customer_name", "line break"),
    ],
)
def test_field_messages_are_the_sentence_alone_beside_the_field(
    client: FlaskClient, world: SimpleNamespace, change: dict[str, Any], field: str, words: str
) -> None:
    resp = client.post(
        "/api/v1/conflict-check", json={**BODY, **change}, headers=_auth(world.partner)
    )
    assert resp.status_code == 422
    fields = resp.get_json()["error"]["details"]["fields"]
    assert list(fields) == [field], fields
    assert words in fields[field]
    assert not fields[field].startswith(("Value error", "Assertion failed"))


# --- 3. one-line text refuses control and direction characters -------------------------------

REFUSED = {
    "crlf": ("Evil\r\nBcc: attacker@example.com\r\nCo", "the line break"),
    "lf": ("Acme\nLtd", "the line break"),
    "tab": ("Acme\tLtd", "the tab"),
    "bell": ("Acme\x07Ltd", "the control character (U+0007)"),
    "c1": ("Acme\x85Ltd", "the line break"),
    "del": ("Acme\x7fLtd", "the control character (U+007F)"),
    "rlo": ("Acme \u202egnp.exe", "the text-direction control character (U+202E)"),
    "lre": ("Acme \u202aLtd", "the text-direction control character (U+202A)"),
    "isolate": ("Acme \u2066Ltd\u2069", "the text-direction control character (U+2066)"),
    "separator": ("Acme\u2028Ltd", "the line break"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_single_line_problem_names_the_character(name: str) -> None:
    value, problem = REFUSED[name]
    assert single_line_problem(value) == problem


@pytest.mark.parametrize(
    "value", ["Société Générale", "東京海上", "شركة أرامكو", "O'Neil & Sons, Inc.", "a\u200fb"]
)
def test_ordinary_names_in_any_script_are_one_line(value: str) -> None:
    assert single_line_problem(value) is None
    assert RegistrationCreate(customer_name=value, workloads=["azure"]).customer_name == value


@pytest.mark.parametrize("field", ["customer_name", "customer_domain", "district", "country"])
@pytest.mark.parametrize("name", ["crlf", "tab", "rlo"])
def test_the_api_refuses_control_characters_in_one_line_fields(
    app: Flask, client: FlaskClient, world: SimpleNamespace, field: str, name: str
) -> None:
    char = {"crlf": "\r\n", "tab": "\t", "rlo": "\u202e"}[name]
    body = {**BODY, field: f"co{char}ntoso.com" if field == "customer_domain" else f"A{char}B"}
    resp = client.post("/api/v1/registrations", json=body, headers=_auth(world.partner))
    assert resp.status_code == 422, resp.get_data(as_text=True)
    message = resp.get_json()["error"]["details"]["fields"][field]
    assert "this field takes one line of plain text" in message
    assert _registrations(app) == 1


def test_notes_keep_their_line_breaks_and_tabs(client: FlaskClient, world: SimpleNamespace) -> None:
    notes = "Call first.\r\n\tThen mail the offer."
    resp = client.post(
        "/api/v1/registrations", json={**BODY, "notes": notes}, headers=_auth(world.partner)
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["notes"] == notes


class _Sample(Form):
    class Meta:
        csrf = False

    title = StringField("Title")
    body = TextAreaField("Body")
    secret = PasswordField("Secret")


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_form_refuses_control_characters_in_one_line_fields_only(app: Flask, name: str) -> None:
    value, problem = REFUSED[name]
    with app.test_request_context(method="POST", data={"title": value}):
        form = _Sample()
        assert not form.validate()
        assert form.title.errors == [f"Remove {problem}: this field takes one line of plain text."]
    with app.test_request_context(method="POST", data={"body": "Line one\r\n\tline two"}):
        form = _Sample()
        assert form.validate(), form.errors
    with app.test_request_context(method="POST", data={"secret": "pass\tword"}):
        assert _Sample().validate()


def test_a_form_still_says_nul_once(app: Flask) -> None:
    from web.forms import NUL_MESSAGE

    with app.test_request_context(method="POST", data={"title": "a\x00b\nc"}):
        form = _Sample()
        assert not form.validate()
        assert form.title.errors == [NUL_MESSAGE]


def test_the_registration_form_refuses_a_name_with_a_line_break(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    import html
    import re

    login(client, world.partner_email)
    page = client.get("/registrations/new").get_data(as_text=True)
    nonce = re.search(r'name="nonce" type="hidden" value="([^"]+)"', page)
    assert nonce is not None
    data = {
        "customer_name": "Evil\r\nBcc: attacker@example.com",
        "country": "US",
        "workloads": ["exchange"],
        "nonce": nonce.group(1),
    }
    resp = post_form(client, "/registrations/new", data)
    assert resp.status_code == 422
    assert html.escape("Remove the line break: this field takes one line") in resp.get_data(
        as_text=True
    )
    assert _registrations(app) == 1


def test_an_admin_name_with_a_direction_override_is_refused(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    from models import Partner

    login(client, world.admin_email)
    resp = post_form(client, "/admin/partners/new", {"name": "Evil\u202e Partners", "points": "10"})
    assert resp.status_code == 422
    assert "text-direction control character (U+202E)" in resp.get_data(as_text=True)
    with app.app_context():
        assert (
            db.session.execute(sa.select(Partner).where(Partner.name.like("Evil%"))).first() is None
        )


def test_a_comment_keeps_its_line_breaks(app: Flask, client: FlaskClient) -> None:
    from tests.escalation.test_ticket_page import _setup

    s = _setup(app)
    url = f"/tickets/{s['ticket']}"
    login(client, s["l1"])
    post_form(client, url, {"body": "Two lines:\r\n\tsecond"}, action=f"{url}/comments")
    with app.app_context():
        bodies = db.session.execute(
            sa.select(TicketEvent.body).where(TicketEvent.ticket_id == s["ticket"])
        ).scalars()
        assert "Two lines:\r\n\tsecond" in list(bodies)


# --- 7. one answer for one mistake, on every list --------------------------------------------


def _ticket_cursor(before: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": before}).encode()).decode()


@pytest.mark.parametrize(
    "cursor", ["zzz", _ticket_cursor("7"), _ticket_cursor(MAX_ID + 5), _ticket_cursor(2**70)]
)
def test_a_bad_ticket_cursor_is_a_400_as_on_registrations(
    client: FlaskClient, world: SimpleNamespace, cursor: str
) -> None:
    tickets = client.get(f"/api/v1/tickets?cursor={cursor}", headers=_auth(world.admin))
    registrations = client.get("/api/v1/registrations?cursor=zzz", headers=_auth(world.admin))
    assert tickets.status_code == registrations.status_code == 400
    assert tickets.get_json()["error"]["code"] == registrations.get_json()["error"]["code"]
    assert "cursor" in tickets.get_json()["error"]["details"]["fields"]


def test_a_good_ticket_cursor_still_pages(client: FlaskClient, world: SimpleNamespace) -> None:
    resp = client.get(
        f"/api/v1/tickets?cursor={_ticket_cursor(MAX_ID)}", headers=_auth(world.admin)
    )
    assert resp.status_code == 200 and [t["id"] for t in resp.get_json()["items"]] == [world.ticket]


@pytest.mark.parametrize("query", ["publish=maybe", "bogus=1", "status=published&extra=x"])
def test_unknown_or_bad_list_parameters_are_refused(
    client: FlaskClient, world: SimpleNamespace, query: str
) -> None:
    resp = client.get(f"/api/v1/named-account-lists?{query}", headers=_auth(world.admin))
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert resp.get_json()["error"]["code"] == "invalid"
    assert (
        client.get(
            "/api/v1/named-account-lists?status=published", headers=_auth(world.admin)
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("query", "form", "field"),
    [
        ("publish=maybe", {}, "publish"),
        ("publsh=true", {}, "publsh"),
        ("", {"publish": "maybe"}, "publish"),
        ("", {"lable": "x"}, "lable"),
        ("", {"label": "Spring\r\nlist"}, "label"),
    ],
)
def test_upload_options_are_checked_wherever_they_come_from(
    app: Flask,
    client: FlaskClient,
    world: SimpleNamespace,
    query: str,
    form: dict[str, str],
    field: str,
) -> None:
    import io

    from models import NamedAccountList

    data: dict[str, Any] = {**form, "file": (io.BytesIO(b"name\nContoso Ltd\n"), "list.csv")}
    resp = client.post(
        f"/api/v1/named-account-lists?{query}",
        data=data,
        content_type="multipart/form-data",
        headers=_auth(world.admin),
    )
    assert resp.status_code == 422, resp.get_data(as_text=True)
    fields = resp.get_json()["error"]["details"]["fields"]
    assert field in fields and not fields[field].startswith("Value error")
    with app.app_context():
        assert db.session.execute(sa.select(NamedAccountList)).first() is None


def test_a_good_upload_with_options_still_works(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    import io

    effective = (utcnow().date() - timedelta(days=1)).isoformat()
    resp = client.post(
        f"/api/v1/named-account-lists?publish=true&effective_from={effective}",
        data={"label": "Spring list", "file": (io.BytesIO(b"name\nContoso Ltd\n"), "l.csv")},
        content_type="multipart/form-data",
        headers=_auth(world.admin),
    )
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json()["published"] is True
    assert resp.get_json()["version"]["label"] == "Spring list"
