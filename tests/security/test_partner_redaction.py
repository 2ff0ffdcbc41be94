"""Two partners on one customer: each reads their own side of the conflict, never the other's.

Alpha registers Contoso first; Beta registers it later for an overlapping workload, which opens a
PARTNER_OVERLAP ticket with both partners as parties. Every way a partner reads that ticket (the
ticket page, the tickets API, their registration page, the e-mails) names the other side only as
"another partner"; channel managers see both sides; MCS, not a party, sees none of it.
"""

import html
import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from escalation.mailer import render_bodies
from models import ConflictFinding, OutboxMessage, Ticket, User
from models.db import db
from tests.factories import (
    csrf_from,
    login,
    make_api_token,
    make_district,
    make_partner,
    make_user,
)
from web.evidence import other_side_message, own_registration_ids, partner_evidence

# What only Alpha's registration says: none of it may reach Beta, and the reverse.
ALPHA = {
    "customer_name": "Contoso Ltd",
    "customer_domain": "contoso-alpha.com",
    "pc_count": "7321",
    "estimated_value": "43210",
    "workloads": ["exchange", "sharepoint"],
    "notes": "Alpha private note",
}
BETA = {
    "customer_name": "Contoso",
    "customer_domain": "contoso-beta.com",
    "pc_count": "6543",
    "estimated_value": "98760",
    "workloads": ["exchange", "yammer"],
    "solution_stack": "all_microsoft",
    "notes": "Beta private note",
}
# Each side's tell-tale strings as the ticket page prints them (name, tier, registration).
ALPHA_TELLS = ("Alpha Integrators", "tier-gold", "contoso-alpha.com", "7,321", "43,210")
BETA_TELLS = (
    "Beta Solutions",
    "tier-certified",
    "contoso-beta.com",
    "6,543",
    "98,760",
    "All-Microsoft",
)


def _register(client: FlaskClient, fields: dict[str, Any]) -> int:
    page = client.get("/registrations/new").get_data(as_text=True)
    nonce = re.search(r'name="nonce" type="hidden" value="([^"]+)"', page)
    assert nonce is not None
    data = {
        "country": "US",
        "district": "northeast",
        "csrf_token": csrf_from(page),
        "nonce": nonce.group(1),
        **fields,
    }
    resp = client.post("/registrations/new", data=data)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def _sign_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def _text(page: str) -> str:
    """Return a page's main content as the words a reader sees."""
    main = page[page.index("<main") :] if "<main" in page else page
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", main)))


@pytest.fixture()
def overlap(app: Flask) -> SimpleNamespace:
    """Alpha and Beta on Contoso with Exchange in common; Beta's registration opened the ticket."""
    with app.app_context():
        make_district("northeast", "east")
        alpha_org = make_partner("Alpha Integrators", points=130)
        beta_org = make_partner("Beta Solutions", points=60)
        alpha = make_user("partner", partner_id=alpha_org.id)
        beta = make_user("partner", partner_id=beta_org.id)
        reviewer = make_user("reviewer", level=1, districts=["northeast"])
        admin = make_user("admin")
        mcs = make_user("mcs")
        tokens = {u.email: make_api_token(u)[1] for u in (alpha, beta, reviewer, admin, mcs)}
        db.session.commit()
        w = SimpleNamespace(
            alpha=alpha.email,
            beta=beta.email,
            reviewer=reviewer.email,
            admin=admin.email,
            mcs=mcs.email,
            tokens=tokens,
        )
    w.alpha_reg = _register(_sign_in(app, w.alpha), ALPHA)
    w.beta_reg = _register(_sign_in(app, w.beta), BETA)
    with app.app_context():
        ticket = db.session.execute(sa.select(Ticket)).scalar_one()
        assert ticket.rule == "PARTNER_OVERLAP"
        assert (ticket.registration_id, ticket.other_registration_id) == (w.beta_reg, w.alpha_reg)
        w.ticket = ticket.id
        w.message = db.session.execute(sa.select(ConflictFinding.message)).scalar_one()
    return w


def _api(client: FlaskClient, token: str, url: str) -> Any:
    resp = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()


@pytest.mark.parametrize(
    ("who", "mine", "theirs"),
    [("alpha", ALPHA_TELLS, BETA_TELLS), ("beta", BETA_TELLS, ALPHA_TELLS)],
)
def test_each_partner_reads_only_their_own_side_on_the_ticket_page(
    app: Flask, overlap: SimpleNamespace, who: str, mine: tuple[str, ...], theirs: tuple[str, ...]
) -> None:
    page = _sign_in(app, getattr(overlap, who)).get(f"/tickets/{overlap.ticket}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    text = _text(body)
    own_reg = overlap.alpha_reg if who == "alpha" else overlap.beta_reg
    other_reg = overlap.beta_reg if who == "alpha" else overlap.alpha_reg
    for tell in mine:
        assert tell in body, tell
    for tell in theirs:
        assert tell not in body, tell
    assert "Another partner" in text and "their registration is not shown" in text
    assert f'href="/registrations/{own_reg}"' in body
    assert f'href="/registrations/{other_reg}"' not in body
    assert not re.search(rf"#{other_reg}\b", text)
    if who == "alpha":
        # The sentence and the title speak of Alpha's registration, not of Beta's.
        assert overlap.message not in text
        assert f"Ticket {overlap.ticket}: Partner overlap: Contoso Ltd" in text
        assert "The other partner's registration has priority" in text
        assert "it offers an all-Microsoft stack and yours does not" in text
    else:
        assert overlap.message in text


@pytest.mark.parametrize("who", ["alpha", "beta"])
def test_each_partner_reads_only_their_own_side_in_the_api(
    app: Flask, client: FlaskClient, overlap: SimpleNamespace, who: str
) -> None:
    token = overlap.tokens[getattr(overlap, who)]
    one = _api(client, token, f"/api/v1/tickets/{overlap.ticket}")
    listed = _api(client, token, "/api/v1/tickets")["items"]
    assert listed == [one]
    if who == "alpha":
        assert (one["registration_id"], one["other_registration_id"]) == (None, overlap.alpha_reg)
        assert one["title"] == "Partner overlap: Contoso Ltd"
        assert one["findings"][0]["message"] != overlap.message
        assert one["timeline"][0]["body"] == one["findings"][0]["message"]
        leads = False  # Beta's all-Microsoft stack leads
        theirs, other_name = BETA, "Beta Solutions"
    else:
        assert (one["registration_id"], one["other_registration_id"]) == (overlap.beta_reg, None)
        assert one["findings"][0]["message"] == overlap.message
        leads = True
        theirs, other_name = ALPHA, "Alpha Integrators"
    evidence = one["findings"][0]["evidence"]
    assert evidence == {
        "overlapping_workloads": ["exchange"],
        "leader_is_this_registration": leads,
        "reason": "all-Microsoft stack",
        "district": "northeast",
    }
    dumped = json.dumps(one)
    for value in (other_name, theirs["customer_domain"], theirs["pc_count"], theirs["notes"]):
        assert value not in dumped, value
    assert not re.search(r"other_|submitted_at|solution_stack", json.dumps(evidence))


def test_staff_see_both_sides(app: Flask, client: FlaskClient, overlap: SimpleNamespace) -> None:
    for who in (overlap.reviewer, overlap.admin):
        text = _text(_sign_in(app, who).get(f"/tickets/{overlap.ticket}").get_data(as_text=True))
        assert "Alpha Integrators" in text and "Beta Solutions" in text, who
        assert f"#{overlap.alpha_reg}" in text and f"#{overlap.beta_reg}" in text
        assert "not shown" not in text and overlap.message in text
        assert "Other registration's solution stack" in text  # the full evidence
        one = _api(client, overlap.tokens[who], f"/api/v1/tickets/{overlap.ticket}")
        assert (one["registration_id"], one["other_registration_id"]) == (
            overlap.beta_reg,
            overlap.alpha_reg,
        )
        assert {"other_submitted_at", "other_status", "solution_stack"} <= set(
            one["findings"][0]["evidence"]
        )


def test_mcs_sees_nothing_of_a_conflict_between_partners(
    app: Flask, client: FlaskClient, overlap: SimpleNamespace
) -> None:
    mcs = _sign_in(app, overlap.mcs)
    assert mcs.get(f"/tickets/{overlap.ticket}").status_code == 404
    for reg_id in (overlap.alpha_reg, overlap.beta_reg):
        assert mcs.get(f"/registrations/{reg_id}").status_code == 404
    headers = {"Authorization": f"Bearer {overlap.tokens[overlap.mcs]}"}
    assert client.get(f"/api/v1/tickets/{overlap.ticket}", headers=headers).status_code == 404
    assert client.get("/api/v1/tickets", headers=headers).get_json()["items"] == []


def test_mcs_reading_a_partner_deal_through_its_conflict_sees_only_that_conflict(
    app: Flask, client: FlaskClient, overlap: SimpleNamespace
) -> None:
    headers = {"Authorization": f"Bearer {overlap.tokens[overlap.mcs]}"}
    engagement = client.post(
        "/api/v1/registrations",
        headers=headers,
        json={
            "customer_name": "Contoso",
            "district": "northeast",
            "pc_count": 9000,
            "workloads": ["azure"],
        },
    )
    assert engagement.status_code == 201, engagement.get_data(as_text=True)
    assert engagement.get_json()["status"] == "in_conflict"
    resp = client.get(f"/api/v1/registrations/{overlap.beta_reg}", headers=headers)
    # MCS may read the partner's deal it is in conflict with, and only that conflict.
    assert resp.status_code == 200
    body = resp.get_json()
    # Beta's conflict with Alpha is between partners: neither its finding nor its ticket shows.
    assert overlap.ticket not in body["ticket_ids"]
    assert all(f["rule"] != "PARTNER_OVERLAP" for f in body["findings"]), body["findings"]
    assert "Alpha" not in json.dumps(body) and str(overlap.alpha_reg) not in json.dumps(
        body["findings"]
    )


def test_mails_to_the_partners_name_no_registration_of_the_other_side(
    app: Flask, overlap: SimpleNamespace
) -> None:
    with app.app_context():
        mails = db.session.execute(
            sa.select(OutboxMessage).where(
                OutboxMessage.event == "ticket.opened",
                OutboxMessage.recipient.in_([overlap.alpha, overlap.beta]),
            )
        ).scalars()
        bodies = {m.recipient: render_bodies(m.template, m.subject, m.context) for m in mails}
    assert set(bodies) == {overlap.alpha, overlap.beta}
    for address, (text, page) in bodies.items():
        other_name = "Beta Solutions" if address == overlap.alpha else "Alpha Integrators"
        assert f"Ticket: #{overlap.ticket}" in text and f"/tickets/{overlap.ticket}" in page
        # Neither message names a registration of the ticket's; each is told from its side.
        assert "Registration: #" not in text and ">Registration<" not in page
        assert other_name not in text and other_name not in page
    alpha_text, beta_text = bodies[overlap.alpha][0], bodies[overlap.beta][0]
    # Beta (all-Microsoft) raised the ticket and leads; Alpha reads that from its own side.
    assert "This registration has priority" in beta_text
    assert "This registration has priority" not in alpha_text
    assert "The other partner's registration has priority" in alpha_text
    assert "Contoso Ltd" in alpha_text  # Alpha's own spelling of the customer


# The pieces the pages and the API share ------------------------------------------------------


def test_the_other_side_reads_the_verdict_from_its_own_registration() -> None:
    stack = {"overlapping_workloads": ["sharepoint", "middleware"], "reason": "all-Microsoft stack"}
    assert other_side_message({**stack, "leader_is_this_registration": True}, "Initech") == (
        "Another partner also holds an active registration for Initech covering middleware "
        "and SharePoint, which your registration covers too. The other partner's registration "
        "has priority because it offers an all-Microsoft stack and yours does not; a channel "
        "manager decides."
    )
    assert "Your registration has priority because it offers an all-Microsoft stack and the " in (
        other_side_message({**stack, "leader_is_this_registration": False}, "Initech")
    )
    earlier = {"overlapping_workloads": ["exchange"], "reason": "earlier submission"}
    assert "Your registration has priority because it was submitted earlier" in (
        other_side_message({**earlier, "leader_is_this_registration": False}, "Initech")
    )
    # Evidence without a verdict still reads as a sentence, and claims no leader.
    assert other_side_message({}, "Initech").endswith(
        "the same workloads, which your registration covers too. A channel manager decides "
        "which registration has priority."
    )


def test_partner_evidence_keeps_nothing_about_the_other_registration() -> None:
    evidence = {
        "overlapping_workloads": ["exchange"],
        "leader_registration_id": 41,
        "leader_is_this_registration": True,
        "reason": "earlier submission",
        "solution_stack": "all_microsoft",
        "other_solution_stack": "competitive_middleware",
        "other_submitted_at": "2026-01-02T03:04:05+00:00",
        "other_status": "approved",
        "district": "northeast",
    }
    kept = {"overlapping_workloads": ["exchange"], "reason": "earlier submission"}
    kept["district"] = "northeast"
    assert partner_evidence("PARTNER_OVERLAP", evidence, own=True) == {
        **kept,
        "leader_is_this_registration": True,
    }
    # On the other side the verdict flag turns round to speak of the reader's registration.
    assert partner_evidence("PARTNER_OVERLAP", evidence, own=False) == {
        **kept,
        "leader_is_this_registration": False,
    }
    assert "leader_is_this_registration" not in partner_evidence("MCS_OVERLAP", evidence, own=False)


def test_own_registration_ids_follow_the_readers_organisation() -> None:
    def reader(role: str, partner_id: int | None = None) -> User:
        return User(email=f"{role}@example.com", role=role, partner_id=partner_id)

    between_partners = Ticket(
        rule="PARTNER_OVERLAP",
        registration_id=2,
        other_registration_id=1,
        partner_id=20,
        other_partner_id=10,
    )
    assert own_registration_ids(between_partners, reader("partner", 10)) == {1}
    assert own_registration_ids(between_partners, reader("partner", 20)) == {2}
    assert own_registration_ids(between_partners, reader("partner", 30)) == set()
    # An MCS engagement has no partner organisation; a partner without one owns none of it.
    mcs_first = Ticket(rule="MCS_OVERLAP", registration_id=3, other_registration_id=1)
    mcs_first.other_partner_id = 10
    assert own_registration_ids(mcs_first, reader("partner")) == set()
    assert own_registration_ids(mcs_first, reader("partner", 10)) == {1}
    for role in ("mcs", "reviewer", "admin"):
        assert own_registration_ids(between_partners, reader(role)) is None
