"""The tickets API: auth, visibility, keyset pages, decisions, 404/409/422."""

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from escalation import service
from models import Registration, Ticket, User
from models.db import db
from tests.factories import make_api_token, make_district, make_registration, make_ticket, make_user


def _token(user: User) -> str:
    return make_api_token(user)[1]


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _setup(app: Flask) -> dict[str, Any]:
    with app.app_context():
        make_district("northeast", "east")
        make_district("pacific", "west")
        mine = make_user("partner")
        theirs = make_user("partner")
        reg = make_registration(mine, status="in_conflict")
        other_reg = make_registration(theirs)
        l1 = make_user("reviewer", level=1, districts=["northeast"])
        t_mine = make_ticket(reg, region="east")
        t_theirs = make_ticket(other_reg, district="pacific", region="west", rule="MCS_OVERLAP")
        service.comment(db.session, t_mine, author=l1, body="staff only", internal=True)
        service.comment(db.session, t_mine, author=mine, body="hello", internal=False)
        data = {
            "mine": t_mine.id,
            "theirs": t_theirs.id,
            "reg": reg.id,
            "partner": _token(mine),
            "l1": _token(l1),
            "far": _token(make_user("reviewer", level=1, districts=["pacific"])),
            "mcs": _token(make_user("mcs")),
            "admin": _token(make_user("admin")),
        }
        db.session.commit()
    return data


def test_a_token_is_required(app: Flask, client: FlaskClient) -> None:
    _setup(app)
    resp = client.get("/api/v1/tickets")
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/tickets", headers=_h("cg_wrong")).status_code == 401


def test_partner_sees_own_tickets_with_public_timeline(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    body = client.get("/api/v1/tickets", headers=_h(s["partner"])).get_json()
    assert [t["id"] for t in body["items"]] == [s["mine"]] and body["next_cursor"] is None
    one = client.get(f"/api/v1/tickets/{s['mine']}", headers=_h(s["partner"])).get_json()
    assert [e["body"] for e in one["timeline"]] == ["hello"]
    assert {
        "id",
        "type",
        "rule",
        "status",
        "level",
        "district",
        "owner_id",
        "registration_id",
        "sla_due_at",
        "breached",
        "resolution",
        "rationale",
        "findings",
        "timeline",
    } <= set(one)
    missing = client.get(f"/api/v1/tickets/{s['theirs']}", headers=_h(s["partner"]))
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_staff_see_internal_notes_and_their_scope(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    one = client.get(f"/api/v1/tickets/{s['mine']}", headers=_h(s["l1"])).get_json()
    assert "staff only" in [e["body"] for e in one["timeline"]]
    listed = client.get("/api/v1/tickets", headers=_h(s["l1"])).get_json()["items"]
    assert [t["id"] for t in listed] == [s["mine"]]
    admin = client.get("/api/v1/tickets", headers=_h(s["admin"])).get_json()["items"]
    assert {t["id"] for t in admin} == {s["mine"], s["theirs"]}
    assert client.get("/api/v1/tickets", headers=_h(s["mcs"])).get_json()["items"] == []


def test_filters_and_keyset_pages(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    with app.app_context():
        reg = db.session.get(Registration, s["reg"])
        extra = [make_ticket(reg, rule=f"R{i}").id for i in range(5)]
        db.session.commit()
    seen: list[int] = []
    url = "/api/v1/tickets?limit=3"
    while url:
        body = client.get(url, headers=_h(s["admin"])).get_json()
        seen += [t["id"] for t in body["items"]]
        url = f"/api/v1/tickets?limit=3&cursor={body['next_cursor']}" if body["next_cursor"] else ""
    assert seen == sorted([s["mine"], s["theirs"], *extra], reverse=True)
    by_rule = client.get("/api/v1/tickets?rule=MCS_OVERLAP", headers=_h(s["admin"])).get_json()
    assert [t["id"] for t in by_rule["items"]] == [s["theirs"]]
    by_district = client.get("/api/v1/tickets?district=pacific", headers=_h(s["admin"]))
    assert [t["id"] for t in by_district.get_json()["items"]] == [s["theirs"]]
    bad = client.get("/api/v1/tickets?status=nope", headers=_h(s["admin"]))
    assert bad.status_code == 422 and "error" in bad.get_json()
    bad_cursor = client.get("/api/v1/tickets?cursor=zzz", headers=_h(s["admin"]))
    assert bad_cursor.status_code == 422


def test_decision(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    url = f"/api/v1/tickets/{s['mine']}/decision"
    good = {"resolution": "partner_leads", "rationale": "The partner registered first."}
    assert client.post(url, json=good, headers=_h(s["partner"])).status_code == 404
    # Out of territory: the ticket does not exist for them.
    assert client.post(url, json=good, headers=_h(s["far"])).status_code == 404
    # Visible but escalated above their level: an honest refusal.
    with app.app_context():
        db.session.get(Ticket, s["mine"]).level = 2
        db.session.commit()
    assert client.post(url, json=good, headers=_h(s["l1"])).status_code == 403
    with app.app_context():
        db.session.get(Ticket, s["mine"]).level = 1
        db.session.commit()
    short = client.post(url, json={**good, "rationale": "meh"}, headers=_h(s["l1"]))
    assert (
        short.status_code == 422 and "rationale" in short.get_json()["error"]["details"]["fields"]
    )
    wrong = client.post(url, json={**good, "resolution": "exception_granted"}, headers=_h(s["l1"]))
    assert wrong.status_code == 422
    assert "resolution" in wrong.get_json()["error"]["details"]["fields"]
    missing = client.post(url, json={"resolution": "partner_leads"}, headers=_h(s["l1"]))
    assert missing.status_code == 422 and missing.get_json()["error"]["code"] == "invalid"

    ok = client.post(url, json=good, headers=_h(s["l1"]))
    assert ok.status_code == 200
    body = ok.get_json()
    assert body["status"] == "decided" and body["resolution"] == "partner_leads"
    assert body["timeline"][-1]["kind"] == "decided"
    with app.app_context():
        assert db.session.get(Registration, s["reg"]).status == "approved"
        assert db.session.get(Ticket, s["mine"]).decided_by_id is not None

    again = client.post(url, json=good, headers=_h(s["l1"]))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "conflict"
    assert (
        client.post("/api/v1/tickets/9999/decision", json=good, headers=_h(s["admin"])).status_code
        == 404
    )


def test_routes_are_in_the_openapi_document(app: Flask, client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    paths = doc["paths"]
    assert "/api/v1/tickets" in paths
    assert "/api/v1/tickets/{ticket_id}" in paths
    assert "post" in paths["/api/v1/tickets/{ticket_id}/decision"]


def test_nul_characters_are_refused_at_the_edge(app: Flask, client: FlaskClient) -> None:
    """A NUL in a filter or a decision is a field error (422), never a database failure."""
    s = _setup(app)
    resp = client.get("/api/v1/tickets?rule=NAMED%00ACCOUNT", headers=_h(s["admin"]))
    assert resp.status_code == 422
    assert "rule" in resp.get_json()["error"]["details"]["fields"]
    resp = client.get("/api/v1/registrations?customer=Con%00toso", headers=_h(s["partner"]))
    assert resp.status_code == 422
    assert "customer" in resp.get_json()["error"]["details"]["fields"]
    decision = {"resolution": "partner_leads", "rationale": "why\x00not"}
    resp = client.post(f"/api/v1/tickets/{s['mine']}/decision", json=decision, headers=_h(s["l1"]))
    assert resp.status_code == 422
    assert "rationale" in resp.get_json()["error"]["details"]["fields"]
