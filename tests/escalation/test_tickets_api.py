"""The tickets API: auth, visibility, keyset pages, decisions, 404/409/422."""

from typing import Any

import sqlalchemy as sa
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
    assert bad_cursor.status_code == 400


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


# Two sides of one conflict --------------------------------------------------------------------


def _two_sides(app: Flask, *, mcs_first: bool = False) -> dict[str, Any]:
    """A ticket raised by a later registration (Beta's, or MCS's) against Alpha's earlier one."""
    from tests.escalation.test_ticket_page import _two_sides as open_two_sides

    s = open_two_sides(app, mcs_first=mcs_first)
    with app.app_context():
        for who in ("alpha", "beta", "mcs", "l1"):
            user = db.session.execute(sa.select(User).where(User.email == s[who])).scalar_one()
            s[f"{who}_token"] = _token(user)
        db.session.commit()
    return s


def _get(client: FlaskClient, token: str, url: str) -> Any:
    resp = client.get(url, headers=_h(token))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


def test_each_partner_of_a_partner_overlap_reads_only_their_own_side(
    app: Flask, client: FlaskClient
) -> None:
    s = _two_sides(app)
    url = f"/api/v1/tickets/{s['ticket']}"
    beta = _get(client, s["beta_token"], url)
    alpha = _get(client, s["alpha_token"], url)
    assert (beta["registration_id"], beta["other_registration_id"]) == (s["later"], None)
    assert (alpha["registration_id"], alpha["other_registration_id"]) == (None, s["earlier"])
    assert beta["title"] == "Partner overlap: Fabrikam"
    assert alpha["title"] == "Partner overlap: Fabrikam Inc"
    # Nothing about the other registration: not its id, stack, submission or status.
    common = {"overlapping_workloads": ["exchange"], "reason": "earlier submission"}
    common["district"] = "northeast"
    assert beta["findings"][0]["evidence"] == {**common, "leader_is_this_registration": False}
    assert alpha["findings"][0]["evidence"] == {**common, "leader_is_this_registration": True}
    message = alpha["findings"][0]["message"]
    assert "Fabrikam Inc" in message and "Your registration has priority" in message
    assert alpha["timeline"][0]["body"] == message
    assert beta["findings"][0]["message"] == beta["timeline"][0]["body"]
    assert "The other partner's registration has priority" in beta["findings"][0]["message"]
    # The list answers with the same redacted ticket.
    assert _get(client, s["alpha_token"], "/api/v1/tickets")["items"] == [alpha]
    assert _get(client, s["beta_token"], "/api/v1/tickets")["items"] == [beta]


def test_staff_read_both_sides_of_a_partner_overlap(app: Flask, client: FlaskClient) -> None:
    s = _two_sides(app)
    one = _get(client, s["l1_token"], f"/api/v1/tickets/{s['ticket']}")
    assert (one["registration_id"], one["other_registration_id"]) == (s["later"], s["earlier"])
    assert one["title"] == "Partner overlap: Fabrikam"
    evidence = one["findings"][0]["evidence"]
    assert evidence["leader_registration_id"] == s["earlier"]
    assert {"other_submitted_at", "other_status", "other_solution_stack"} <= set(evidence)


def test_each_side_of_an_mcs_overlap_gets_only_its_own_registration_id(
    app: Flask, client: FlaskClient
) -> None:
    s = _two_sides(app, mcs_first=True)
    url = f"/api/v1/tickets/{s['ticket']}"
    partner = _get(client, s["alpha_token"], url)
    assert (partner["registration_id"], partner["other_registration_id"]) == (None, s["earlier"])
    mcs = _get(client, s["mcs_token"], url)
    assert (mcs["registration_id"], mcs["other_registration_id"]) == (s["later"], None)


def test_the_document_says_what_partners_do_not_get(app: Flask, client: FlaskClient) -> None:
    schemas = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    ticket = schemas["TicketOut"]["properties"]
    assert "null for a partner caller" in ticket["registration_id"]["description"].lower()
    assert {"type": "null"} in ticket["registration_id"]["anyOf"]
    assert "own organisation" in ticket["other_registration_id"]["description"]
    finding = schemas["TicketFindingOut"]["properties"]
    assert "partner callers get only" in finding["evidence"]["description"].lower()
