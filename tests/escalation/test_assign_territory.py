"""Who may be given a ticket, and who may decide one: the territory and level, not ownership."""

from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from escalation import service
from models import AuditEvent, OutboxMessage, Ticket, TicketEvent, User
from models.db import db
from tests.factories import (
    csrf_from,
    login,
    make_api_token,
    make_district,
    make_partner,
    make_registration,
    make_ticket,
    make_user,
    post_form,
)

RATIONALE = "The partner met the customer first and leads."


def _people() -> dict[str, User]:
    make_district("northeast", "east", name="Northeast")
    make_district("southwest", "west", name="Southwest")
    return {
        "ne": make_user("reviewer", level=1, districts=["northeast"], name="Nora Northeast"),
        "ne2": make_user("reviewer", level=1, districts=["northeast"], name="Ned Northeast"),
        "sw": make_user("reviewer", level=1, districts=["southwest"], name="Sam Southwest"),
        "east": make_user("reviewer", level=2, districts=[], region="east", name="Erin East"),
        "west": make_user("reviewer", level=2, districts=[], region="west", name="Wes West"),
        "national": make_user("reviewer", level=3, districts=[], name="Nat National"),
        "admin": make_user("admin", name="Ada Admin"),
    }


def _ne_ticket(**kw: Any) -> Ticket:
    author = make_user("partner")
    reg = make_registration(author, district="northeast", status="in_conflict")
    return make_ticket(reg, district="northeast", region="east", **kw)


def _assigned() -> int:
    return int(
        db.session.execute(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "ticket.assigned")
        ).scalar_one()
    )


# --- the service -----------------------------------------------------------------------------


def test_assign_refuses_a_reviewer_outside_the_territory(ctx: Flask) -> None:
    p = _people()
    ticket = _ne_ticket(owner_id=p["ne"].id)
    with pytest.raises(service.NotCovered, match="needs a reviewer covering Northeast"):
        service.assign(db.session, ticket, assignee=p["sw"], actor=p["ne"])
    with pytest.raises(service.NotCovered):
        service.assign(db.session, ticket, assignee=p["west"], actor=p["ne"])
    assert ticket.owner_id == p["ne"].id
    assert _assigned() == 0
    assert db.session.execute(sa.select(TicketEvent.id)).first() is None


def test_assign_refuses_a_reviewer_below_the_tickets_level(ctx: Flask) -> None:
    p = _people()
    ticket = _ne_ticket(level=2)
    with pytest.raises(service.NotCovered, match="at level 2"):
        service.assign(db.session, ticket, assignee=p["ne"], actor=p["admin"])
    assert ticket.owner_id is None


def test_assign_accepts_those_routing_would_pick(ctx: Flask) -> None:
    p = _people()
    ticket = _ne_ticket()
    for who in ("ne2", "east", "national", "admin"):
        service.assign(db.session, ticket, assignee=p[who], actor=p["ne"])
        assert ticket.owner_id == p[who].id
    # By level, then name.
    assert [u.id for u in service.assignable(db.session, ticket)] == [
        p["ne2"].id,
        p["ne"].id,
        p["east"].id,
        p["national"].id,
    ]


def test_a_gold_partners_coordinator_may_take_its_ticket_anywhere(ctx: Flask) -> None:
    p = _people()
    gold = make_partner("Gold Co", points=130, technical_coordinator_id=p["sw"].id)
    reg = make_registration(make_user("partner", partner_id=gold.id), district="northeast")
    ticket = make_ticket(reg, district="northeast", region="east", level=2)
    service.assign(db.session, ticket, assignee=p["sw"], actor=p["east"])
    assert ticket.owner_id == p["sw"].id
    assert service.can_decide(p["sw"], ticket)
    service.decide(db.session, ticket, actor=p["sw"], resolution="mcs_leads", rationale=RATIONALE)
    assert ticket.status == "decided"


def test_owning_a_ticket_outside_the_territory_does_not_let_one_decide_it(ctx: Flask) -> None:
    p = _people()
    ticket = _ne_ticket(owner_id=p["ne"].id)
    # Their districts change after the ticket was given to them.
    p["ne"].districts = ["southwest"]
    assert service.can_work(p["ne"], ticket)  # they may still pass it on
    assert not service.can_decide(p["ne"], ticket)
    with pytest.raises(service.PermissionDenied, match="does not cover it"):
        service.decide(
            db.session, ticket, actor=p["ne"], resolution="partner_leads", rationale=RATIONALE
        )
    assert ticket.status == "open" and ticket.resolution is None
    service.assign(db.session, ticket, assignee=p["ne2"], actor=p["ne"])
    assert ticket.owner_id == p["ne2"].id


def test_a_decision_by_an_owner_who_no_longer_covers_cannot_be_reopened_by_them(
    ctx: Flask,
) -> None:
    p = _people()
    ticket = _ne_ticket(owner_id=p["ne"].id)
    service.decide(
        db.session, ticket, actor=p["ne"], resolution="partner_leads", rationale=RATIONALE
    )
    p["ne"].districts = ["southwest"]
    with pytest.raises(service.PermissionDenied):
        service.reopen(db.session, ticket, actor=p["ne"], reason="Second thoughts.")
    assert ticket.status == "decided"


# --- the pages -------------------------------------------------------------------------------


def _page_world(app: Flask) -> dict[str, Any]:
    with app.app_context():
        p = _people()
        ticket = _ne_ticket(owner_id=p["ne"].id)
        db.session.commit()
        return {"ticket": ticket.id} | {k: (u.id, u.email) for k, u in p.items()}


def test_the_assign_choices_offer_only_who_covers_the_ticket(
    app: Flask, client: FlaskClient
) -> None:
    w = _page_world(app)
    login(client, w["ne"][1])
    html = client.get(f"/tickets/{w['ticket']}").get_data(as_text=True)
    form = html[html.index('id="assign-h"') : html.index("</form>", html.index('id="assign-h"'))]
    for who in ("ne", "ne2", "east", "national"):
        assert f'value="{w[who][0]}"' in form, who
    for who in ("sw", "west"):
        assert f'value="{w[who][0]}"' not in form, who


def test_assigning_outside_the_territory_is_refused_beside_the_field(
    app: Flask, client: FlaskClient
) -> None:
    w = _page_world(app)
    url = f"/tickets/{w['ticket']}"
    login(client, w["ne"][1])
    resp = post_form(client, url, {"assignee": str(w["sw"][0])}, action=f"{url}/assign")
    html = unescape(resp.get_data(as_text=True))
    assert resp.status_code == 422
    assert "Sam Southwest cannot take ticket" in html and "covering Northeast" in html
    assert 'role="alert"' in html
    with app.app_context():
        assert db.session.get(Ticket, w["ticket"]).owner_id == w["ne"][0]
        assert _assigned() == 0
        assert db.session.execute(sa.select(OutboxMessage.id)).first() is None
    # The southwest reviewer never got the ticket, so cannot decide it either.
    other = app.test_client()
    login(other, w["sw"][1])
    decision = {"resolution": "partner_leads", "rationale": RATIONALE}
    assert post_form(other, url, decision, action=f"{url}/decision").status_code == 403
    with app.app_context():
        assert db.session.get(Ticket, w["ticket"]).status == "open"


def test_an_owner_who_no_longer_covers_the_ticket_is_refused_a_decision(
    app: Flask, client: FlaskClient
) -> None:
    w = _page_world(app)
    with app.app_context():
        db.session.get(User, w["ne"][0]).districts = ["southwest"]
        token = make_api_token(db.session.get(User, w["ne"][0]))[1]
        db.session.commit()
    url = f"/tickets/{w['ticket']}"
    login(client, w["ne"][1])
    page = unescape(client.get(url).get_data(as_text=True))
    assert "deciding it needs a reviewer covering Northeast" in page
    assert 'id="decide-h"' not in page and 'id="assign-h"' in page
    decision = {"resolution": "partner_leads", "rationale": RATIONALE}
    resp = post_form(client, url, decision, action=f"{url}/decision")
    assert resp.status_code == 403
    assert "You may not decide ticket" in unescape(resp.get_data(as_text=True))
    api = app.test_client().post(
        f"/api/v1/tickets/{w['ticket']}/decision",
        json=decision,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert api.status_code == 403
    with app.app_context():
        ticket = db.session.get(Ticket, w["ticket"])
        assert ticket.status == "open" and ticket.resolution is None


def test_bulk_assign_leaves_the_tickets_the_assignee_does_not_cover(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        p = _people()
        ne = _ne_ticket()
        sw_reg = make_registration(make_user("partner"), district="southwest")
        sw = make_ticket(sw_reg, district="southwest", region="west")
        db.session.commit()
        ids, sw_id, ne2_id, national = ne.id, sw.id, p["ne2"].id, p["national"].email
    login(client, national)
    token = csrf_from(client.get("/queue").get_data(as_text=True))
    resp = client.post(
        "/queue",
        data={
            "csrf_token": token,
            "action": "assign",
            "assignee": str(ne2_id),
            "ticket_ids": [str(ids), str(sw_id)],
        },
        follow_redirects=True,
    )
    html = unescape(resp.get_data(as_text=True))
    assert f"Assigned to Ned Northeast: 1 ticket(s) (#{ids})" in html
    assert (
        "Not assigned 1 ticket(s) outside the territory or above the level of Ned Northeast: "
        f"#{sw_id}"
    ) in html
    with app.app_context():
        assert db.session.get(Ticket, ids).owner_id == ne2_id
        assert db.session.get(Ticket, sw_id).owner_id is None
