"""The ticket page: visibility, internal notes, SLA clock, findings and every POST form."""

from html import unescape
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from escalation import service
from models import ConflictFinding, NamedAccountList, Registration, Ticket, TicketEvent, User
from models.db import db
from tests.escalation.test_service import make_finding
from tests.factories import (
    login,
    make_district,
    make_partner,
    make_registration,
    make_user,
    post_form,
)


def _setup(app: Flask) -> dict[str, Any]:
    with app.app_context():
        make_district("northeast", "east")
        gold = make_partner("Northwind Gold", points=130)
        p_user = make_user("partner", partner_id=gold.id)
        reg = make_registration(
            p_user,
            customer_name="Contoso",
            district="northeast",
            status="in_conflict",
            infrastructure_maturity="rationalized",
            pc_count=4500,
        )
        lst = NamedAccountList(
            label="FY26 H1", status="draft", content_hash="a" * 64, account_count=1
        )
        db.session.add(lst)
        db.session.flush()
        l1 = make_user("reviewer", level=1, districts=["northeast"])
        finding = make_finding(
            reg,
            list_version_id=lst.id,
            policy_version_id=reg.policy_version_id,
            account_ref="ACC-42",
            method="fuzzy",
            score=96.5,
            evidence={"district": "northeast", "mcs_owner_email": "owner@example.com"},
        )
        ticket = service.open_ticket(db.session, registration=reg, finding=finding)
        service.comment(db.session, ticket, author=l1, body="SECRET staff note", internal=True)
        service.comment(db.session, ticket, author=p_user, body="Public hello", internal=False)
        data = {
            "ticket": ticket.id,
            "reg": reg.id,
            "partner": p_user.email,
            "stranger": make_user("partner").email,
            "mcs_owner": make_user("mcs", email="owner@example.com").email,
            "mcs_other": make_user("mcs").email,
            "l1": l1.email,
            "far": make_user("reviewer", level=1, districts=["pacific"]).email,
            "admin": make_user("admin").email,
        }
        db.session.commit()
    return data


def test_party_partner_sees_public_timeline_only(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    login(client, s["partner"])
    resp = client.get(f"/tickets/{s['ticket']}")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Public hello" in html and "SECRET staff note" not in html
    assert "Northwind Gold" in html and "Gold Certified" in html
    assert "owner@example.com" in html
    assert "Rationalized" in html  # infrastructure maturity
    # Partners get no working buttons and no internal-note toggle.
    assert ">Claim<" not in html and ">Decide<" not in html and "Internal note" not in html
    assert "Add comment" in html


def test_strangers_get_404(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    for who in ("stranger", "mcs_other"):
        other_client = app.test_client()
        login(other_client, s[who])
        assert other_client.get(f"/tickets/{s['ticket']}").status_code == 404, who
    login(client, s["far"])
    assert client.get(f"/tickets/{s['ticket']}").status_code == 403
    assert client.get("/tickets/99999").status_code == 404


def test_mcs_owner_sees_it(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    login(client, s["mcs_owner"])
    html = client.get(f"/tickets/{s['ticket']}").get_data(as_text=True)
    assert "Contoso" in html and "SECRET staff note" not in html


def test_reviewer_sees_everything_needed(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    login(client, s["l1"])
    html = client.get(f"/tickets/{s['ticket']}").get_data(as_text=True)
    assert "SECRET staff note" in html and "Internal" in html
    # The finding with its evidence, list and policy versions.
    assert "NAMED_ACCOUNT" in html and "ACC-42" in html and "96.5" in html and "Fuzzy" in html
    assert "FY26 H1" in html and "v1" in html
    # Districts by name: the evidence's, the header's and the registration's.
    assert "<dt>District</dt><dd>Northeast</dd>" in html and ">northeast<" not in html
    assert "district Northeast" in html
    assert "<dt>District / country</dt><dd>Northeast / not given</dd>" in html
    assert "<dt>PCs</dt><dd>4,500</dd>" in html
    assert "<dt>MCS owner e-mail</dt><dd>owner@example.com</dd>" in html
    # The SLA clock with each escalation stage projected.
    assert "SLA clock" in html and "1 \u2013 district (now)" in html
    assert "2 \u2013 region" in html and "3 \u2013 national" in html
    # Working controls, labelled for people and browser tests.
    assert ">Claim</button>" in html and ">Escalate</button>" in html
    assert '<label for="resolution">Resolution</label>' in html
    assert '<label for="rationale">Rationale</label>' in html
    assert ">Partner leads<" in html and ">Exception granted<" not in html
    assert 'name="csrf_token"' in html


def test_claim_comment_and_decide_through_the_forms(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    url = f"/tickets/{s['ticket']}"
    login(client, s["l1"])
    resp = post_form(client, url, {}, action=f"{url}/claim")
    assert resp.status_code == 302 and resp.headers["Location"] == url
    resp = post_form(
        client, url, {"body": "Internal thought", "internal": "y"}, action=f"{url}/comments"
    )
    assert resp.status_code == 302

    bad = post_form(
        client, url, {"resolution": "partner_leads", "rationale": "short"}, action=f"{url}/decision"
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'class="field has-error"' in html and "Write between 10" in html

    wrong = post_form(
        client,
        url,
        {"resolution": "exception_granted", "rationale": "Long enough rationale."},
        action=f"{url}/decision",
    )
    assert wrong.status_code == 422

    ok = post_form(
        client,
        url,
        {"resolution": "partner_leads", "rationale": "The partner found the deal first."},
        action=f"{url}/decision",
    )
    assert ok.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "Partner leads" in page and "The partner found the deal first." in page
    assert ">Reopen</button>" in page
    with app.app_context():
        ticket = db.session.get(Ticket, s["ticket"])
        assert ticket.status == "decided" and ticket.resolution == "partner_leads"
        assert db.session.get(Registration, s["reg"]).status == "approved"
        kinds = db.session.execute(
            sa.select(TicketEvent.kind, TicketEvent.visibility)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.id)
        ).all()
        assert ("commented", "internal") in kinds and kinds[-1] == ("decided", "public")

    again = post_form(client, url, {"reason": "The customer disputes it."}, action=f"{url}/reopen")
    assert again.status_code == 302
    with app.app_context():
        assert db.session.get(Ticket, s["ticket"]).status == "open"


def test_partner_comments_are_public_even_if_they_ask_otherwise(
    app: Flask, client: FlaskClient
) -> None:
    s = _setup(app)
    url = f"/tickets/{s['ticket']}"
    login(client, s["partner"])
    resp = post_form(client, url, {"body": "Any news?", "internal": "y"}, action=f"{url}/comments")
    assert resp.status_code == 302
    with app.app_context():
        ev = db.session.execute(
            sa.select(TicketEvent).where(TicketEvent.body == "Any news?")
        ).scalar_one()
        assert ev.visibility == "public"
    # Partners cannot work the ticket.
    assert post_form(client, url, {}, action=f"{url}/claim").status_code == 404
    decision = {"resolution": "partner_leads", "rationale": "We deserve it, clearly."}
    assert post_form(client, url, decision, action=f"{url}/decision").status_code == 404


def test_escalate_and_assign_from_the_page(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    with app.app_context():
        regional = make_user("reviewer", level=2, districts=[], region="east")
        regional_id = regional.id
        db.session.commit()
    url = f"/tickets/{s['ticket']}"
    login(client, s["admin"])
    empty = post_form(client, url, {"reason": ""}, action=f"{url}/escalate")
    assert empty.status_code == 422
    resp = post_form(client, url, {"reason": "Needs the region."}, action=f"{url}/escalate")
    assert resp.status_code == 302
    with app.app_context():
        t = db.session.get(Ticket, s["ticket"])
        assert t.level == 2 and t.owner_id == regional_id
    with app.app_context():
        l1_id = db.session.execute(sa.select(User.id).where(User.email == s["l1"])).scalar_one()
        other = make_user("reviewer", level=2, districts=[], region="east")
        other_id = other.id
        db.session.commit()
    # A level-2 ticket goes to someone who covers it at level 2, not back to level 1.
    resp = post_form(client, url, {"assignee": str(l1_id)}, action=f"{url}/assign")
    assert resp.status_code == 422
    resp = post_form(client, url, {"assignee": str(other_id)}, action=f"{url}/assign")
    assert resp.status_code == 302
    with app.app_context():
        assert db.session.get(Ticket, s["ticket"]).owner_id == other_id


def test_level_one_cannot_work_an_escalated_ticket(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    with app.app_context():
        t = db.session.get(Ticket, s["ticket"])
        t.level = 2
        t.owner_id = None
        db.session.commit()
    url = f"/tickets/{s['ticket']}"
    login(client, s["l1"])
    html = client.get(url).get_data(as_text=True)
    assert ">Claim</button>" not in html  # read-only at the higher level
    assert post_form(client, url, {}, action=f"{url}/claim").status_code == 403


def test_posts_need_csrf(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    login(client, s["l1"])
    url = f"/tickets/{s['ticket']}"
    assert client.post(f"{url}/claim").status_code == 400
    with app.app_context():
        assert db.session.get(Ticket, s["ticket"]).status == "open"
        assert db.session.execute(sa.select(sa.func.count()).select_from(ConflictFinding)).scalar()


# Two sides of one conflict --------------------------------------------------------------------

OVERLAP_MESSAGE = (
    "Another partner already holds an active registration for Fabrikam covering Exchange, which "
    "this registration also covers. The other partner's registration has priority because it "
    "was submitted earlier; a channel manager decides."
)


def _two_sides(app: Flask, *, mcs_first: bool = False) -> dict[str, Any]:
    """Open a ticket raised by a later registration against Alpha's earlier one on a customer.

    The later registration is Beta's (a partner overlap), or with mcs_first an MCS engagement,
    whose ticket then has the MCS side first and Alpha's partner side second.
    """
    with app.app_context():
        make_district("northeast", "east")
        l1 = make_user("reviewer", level=1, districts=["northeast"])
        alpha = make_user("partner", partner_id=make_partner("Alpha Integrators", points=130).id)
        beta = make_user("partner", partner_id=make_partner("Beta Solutions", points=60).id)
        seller = make_user("mcs")
        earlier = make_registration(
            alpha,
            customer_name="Fabrikam Inc",
            customer_domain="fabrikam-alpha.com",
            district="northeast",
            pc_count=7321,
            estimated_value=43210,
        )
        later = make_registration(
            seller if mcs_first else beta,
            customer_name="Fabrikam",
            customer_domain="fabrikam-later.com",
            district="northeast",
            status="in_conflict",
            pc_count=6543,
            estimated_value=98760,
        )
        evidence = {
            "overlapping_workloads": ["exchange"],
            "leader_registration_id": earlier.id,
            "leader_is_this_registration": False,
            "reason": "earlier submission",
            "solution_stack": None,
            "other_solution_stack": None,
            "other_submitted_at": "2026-01-02T03:04:05+00:00",
            "other_status": "approved",
            "district": "northeast",
        }
        finding = make_finding(
            later,
            "MCS_OVERLAP" if mcs_first else "PARTNER_OVERLAP",
            message=OVERLAP_MESSAGE,
            account_name=None,
            method=None,
            score=None,
            evidence=evidence,
            other_registration_id=earlier.id,
        )
        ticket = service.open_ticket(
            db.session, registration=later, finding=finding, other_registration=earlier
        )
        data = {
            "ticket": ticket.id,
            "earlier": earlier.id,
            "later": later.id,
            "alpha": alpha.email,
            "beta": beta.email,
            "mcs": seller.email,
            "l1": l1.email,
        }
        db.session.commit()
    return data


def _page(app: Flask, email: str, ticket_id: int) -> str:
    client = app.test_client()
    login(client, email)
    resp = client.get(f"/tickets/{ticket_id}")
    assert resp.status_code == 200, email
    return unescape(resp.get_data(as_text=True))


def test_each_partner_of_a_partner_overlap_sees_only_their_own_side(app: Flask) -> None:
    s = _two_sides(app)
    alpha = _page(app, s["alpha"], s["ticket"])
    beta = _page(app, s["beta"], s["ticket"])
    for html, mine, theirs in (
        (alpha, ("Alpha Integrators", "Gold Certified", "7,321", "$43,210"), s["later"]),
        (beta, ("Beta Solutions", "Certified", "6,543", "$98,760"), s["earlier"]),
    ):
        assert all(fact in html for fact in mine), mine
        assert "<dt>Other partner</dt><dd>Another partner</dd>" in html
        assert "The other side is another partner; their registration is not shown." in html
        assert f'href="/registrations/{theirs}"' not in html and f"#{theirs}<" not in html
    for fact in ("Beta Solutions", "tier-certified", "fabrikam-later.com", "6,543", "$98,760"):
        assert fact not in alpha, fact
    for fact in ("Alpha Integrators", "Gold Certified", "fabrikam-alpha.com", "7,321", "$43,210"):
        assert fact not in beta, fact
    # Beta's registration raised the finding: Beta reads it as written, Alpha from Alpha's side.
    assert beta.count(OVERLAP_MESSAGE) == 2  # the finding and the opening event
    assert OVERLAP_MESSAGE not in alpha
    assert f"Ticket {s['ticket']}: Partner overlap: Fabrikam Inc" in alpha
    assert alpha.count("Your registration has priority because it was submitted earlier") == 2


def test_reviewer_sees_both_partners_of_a_partner_overlap(app: Flask) -> None:
    s = _two_sides(app)
    html = _page(app, s["l1"], s["ticket"])
    assert "Alpha Integrators" in html and "Beta Solutions" in html
    assert f'href="/registrations/{s["earlier"]}"' in html
    assert f'href="/registrations/{s["later"]}"' in html
    assert "not shown" not in html and OVERLAP_MESSAGE in html
    assert "<dt>Other registration submitted</dt>" in html


def test_partner_reads_an_mcs_engagement_on_the_other_side_only_as_mcs(app: Flask) -> None:
    s = _two_sides(app, mcs_first=True)
    html = _page(app, s["alpha"], s["ticket"])
    assert "Alpha Integrators" in html and "7,321" in html
    assert "The other side is an MCS engagement; its details are not shown." in html
    for fact in ("fabrikam-later.com", "6,543", "$98,760", f'href="/registrations/{s["later"]}"'):
        assert fact not in html, fact
    # The MCS seller who registered it still reads the engagement in full.
    mcs = _page(app, s["mcs"], s["ticket"])
    assert "6,543" in mcs and "$98,760" in mcs and "not shown" not in mcs
