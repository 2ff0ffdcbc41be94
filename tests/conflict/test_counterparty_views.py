"""The other side of a conflict: what each party reads of the other's registration.

A partner holds a large customer; MCS then engages it (an MCS-versus-partner ticket raised by
MCS's registration). The partner learns of the ticket from its own registration and reads the
finding from its own side; MCS reads the partner's deal but not its commercial terms; neither
learns the other's PC count. A no-bid block opens no exception ticket beside the rejection, and a
district reviewer reads only the registrations of their territory.
"""

import re
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from models import ConflictFinding, Ticket
from models.db import db
from tests.factories import (
    csrf_from,
    login,
    make_api_token,
    make_district,
    make_list,
    make_user,
)

CLOSE = (date.today() + timedelta(days=45)).isoformat()
PARTNER_DEAL: dict[str, Any] = {
    "customer_name": "Orion Foods",
    "district": "northeast",
    "pc_count": 9000,
    "workloads": ["azure", "sql_server"],
    "solution_stack": "all_microsoft",
    "estimated_value": 777_777,
    "expected_close_date": CLOSE,
    "notes": "CONFIDENTIAL partner pricing",
}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def sides(app: Flask) -> SimpleNamespace:
    with app.app_context():
        make_district("northeast", "east")
        make_district("southwest", "west")
        partner = make_user("partner")
        other = make_user("partner")
        mcs = make_user("mcs")
        reviewer = make_user("reviewer", level=1, districts=["northeast"])
        far = make_user("reviewer", level=1, districts=["southwest"])
        users = (partner, other, mcs, reviewer, far)
        tokens = {u.email: make_api_token(u)[1] for u in users}
        db.session.commit()
        return SimpleNamespace(
            partner=tokens[partner.email],
            partner_email=partner.email,
            other=tokens[other.email],
            mcs=tokens[mcs.email],
            mcs_email=mcs.email,
            reviewer=reviewer.email,
            far=far.email,
        )


def _post(client: FlaskClient, token: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.post("/api/v1/registrations", json=body, headers=_auth(token))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return resp.get_json()  # type: ignore[no-any-return]


def _mcs_engages(client: FlaskClient, sides: SimpleNamespace, pcs: int = 7000) -> tuple[int, int]:
    held = _post(client, sides.partner, PARTNER_DEAL)
    mcs = _post(
        client,
        sides.mcs,
        {
            "customer_name": "Orion Foods",
            "district": "northeast",
            "pc_count": pcs,
            "workloads": ["azure"],
        },
    )
    assert mcs["status"] == "in_conflict" and mcs["ticket_id"] is not None
    return held["id"], mcs["ticket_id"]


def test_a_partner_learns_of_a_ticket_raised_against_its_registration(
    client: FlaskClient, sides: SimpleNamespace
) -> None:
    held, ticket = _mcs_engages(client, sides)
    body = client.get(f"/api/v1/registrations/{held}", headers=_auth(sides.partner)).get_json()
    assert body["ticket_id"] == ticket and body["ticket_ids"] == [ticket]
    listed = client.get("/api/v1/registrations", headers=_auth(sides.partner)).get_json()
    assert next(i for i in listed["items"] if i["id"] == held)["ticket_ids"] == [ticket]


def test_the_partner_reads_the_mcs_overlap_from_its_own_side(
    app: Flask, client: FlaskClient, sides: SimpleNamespace
) -> None:
    held, ticket = _mcs_engages(client, sides)
    login(client, sides.partner_email)
    for url in (f"/registrations/{held}", f"/tickets/{ticket}"):
        page = client.get(url).get_data(as_text=True)
        assert "MCS has registered an engagement with Orion Foods" in page, url
        # MCS's side of the story, and MCS's own PC count, stay out.
        assert "This engagement goes to a channel manager" not in page, url
        assert "7,000" not in page, url
    api = client.get(f"/api/v1/tickets/{ticket}", headers=_auth(sides.partner)).get_json()
    assert "7,000" not in str(api) and "MCS has registered an engagement" in str(api)


def test_an_mcs_overlap_names_only_the_readers_own_pc_count(
    app: Flask, client: FlaskClient, sides: SimpleNamespace
) -> None:
    # MCS engages first with 9,500 PCs; the partner registers without a count.
    mcs = _post(
        client,
        sides.mcs,
        {
            "customer_name": "Vega Mills",
            "district": "northeast",
            "pc_count": 9500,
            "workloads": ["azure"],
        },
    )
    assert mcs["status"] == "approved"
    mine = _post(
        client,
        sides.partner,
        {"customer_name": "Vega Mills", "district": "northeast", "workloads": ["azure"]},
    )
    finding = next(f for f in mine["findings"] if f["rule"] == "MCS_OVERLAP")
    assert "9,500" not in finding["message"]
    assert "MCS's engagement records more PCs than the 4,000-PC threshold" in finding["message"]


def test_mcs_reads_a_partners_deal_without_its_commercial_terms(
    client: FlaskClient, sides: SimpleNamespace
) -> None:
    held, ticket = _mcs_engages(client, sides)
    body = client.get(f"/api/v1/registrations/{held}", headers=_auth(sides.mcs)).get_json()
    assert body["customer_name"] == "Orion Foods" and body["workloads"] == ["azure", "sql_server"]
    assert (body["notes"], body["estimated_value"], body["expected_close_date"]) == (
        None,
        None,
        None,
    )
    own = client.get(f"/api/v1/registrations/{held}", headers=_auth(sides.partner)).get_json()
    assert own["notes"] == "CONFIDENTIAL partner pricing" and own["estimated_value"] == 777_777
    login(client, sides.mcs_email)
    page = client.get(f"/registrations/{held}").get_data(as_text=True)
    assert "CONFIDENTIAL" not in page and "777,777" not in page and CLOSE not in page
    assert "The registration is yours until it expires" not in page
    assert "shown because your engagement is in a conflict with it" in page
    ticket_page = client.get(f"/tickets/{ticket}").get_data(as_text=True)
    assert "777,777" not in ticket_page and CLOSE not in ticket_page


def test_an_accounts_mcs_owner_reads_the_ticket_without_the_partners_terms(
    app: Flask, client: FlaskClient, sides: SimpleNamespace
) -> None:
    with app.app_context():
        make_list(
            [
                {
                    "name": "Amcor plc",
                    "domain": "amcor.com",
                    "district": "northeast",
                    "mcs_owner_email": sides.mcs_email,
                }
            ]
        )
        db.session.commit()
    reg = _post(
        client,
        sides.partner,
        PARTNER_DEAL | {"customer_name": "Amcor", "customer_domain": "amcor.com"},
    )
    assert reg["ticket_id"] is not None
    login(client, sides.mcs_email)
    page = client.get(f"/tickets/{reg['ticket_id']}").get_data(as_text=True)
    assert "Amcor" in page and "PCs" in page
    assert "777,777" not in page and CLOSE not in page


def test_a_no_bid_block_opens_no_exception_ticket(
    app: Flask, client: FlaskClient, sides: SimpleNamespace
) -> None:
    _post(
        client,
        sides.partner,
        PARTNER_DEAL
        | {"customer_name": "Borealis Health", "workloads": ["dotnet_server"], "pc_count": 800},
    )
    mcs = _post(
        client,
        sides.mcs,
        {
            "customer_name": "Borealis Health",
            "district": "northeast",
            "pc_count": 1000,
            "workloads": ["dotnet_server"],
            "dotnet_early_adoption": True,
            "estimated_value": 500_000,
        },
    )
    assert mcs["status"] == "rejected" and mcs["ticket_ids"] == []
    rules = {f["rule"]: f["severity"] for f in mcs["findings"]}
    assert rules["NO_BID_DOTNET"] == "block" and rules["DOTNET_EXCEPTION"] == "info"
    size = next(f["message"] for f in mcs["findings"] if f["rule"] == "MCS_SIZE_THRESHOLD")
    assert "but the no-bid commitment blocks it" in size
    assert "It goes to exception review" not in size
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Ticket)).scalar_one() == 0
        stored = db.session.execute(
            sa.select(ConflictFinding.severity).where(ConflictFinding.rule == "DOTNET_EXCEPTION")
        ).scalar_one()
        assert stored == "info"


def test_a_district_reviewer_reads_only_their_territorys_registrations(
    app: Flask, client: FlaskClient, sides: SimpleNamespace
) -> None:
    held = _post(client, sides.partner, PARTNER_DEAL)["id"]
    west = _post(
        client, sides.other, PARTNER_DEAL | {"customer_name": "Mesa Labs", "district": "southwest"}
    )["id"]
    login(client, sides.reviewer)
    assert client.get(f"/registrations/{held}").status_code == 200
    assert client.get(f"/registrations/{west}").status_code == 404
    # Nor may they record a partner of record on it.
    resp = client.post(
        f"/registrations/{west}/dpor",
        data={
            "csrf_token": csrf_from(client.get("/queue").get_data(as_text=True)),
            "dpor-workload": "azure",
            "dpor-partner_id": "1",
        },
    )
    assert resp.status_code == 404
    elsewhere = app.test_client()
    login(elsewhere, sides.far)
    assert elsewhere.get(f"/registrations/{west}").status_code == 200
    assert elsewhere.get(f"/registrations/{held}").status_code == 404


def test_a_ticket_in_the_territory_opens_its_registration_from_elsewhere(
    app: Flask, client: FlaskClient, sides: SimpleNamespace
) -> None:
    # The partner typed the southwest; the ticket about it went to the northeast reviewer.
    reg = _post(
        client,
        sides.partner,
        PARTNER_DEAL | {"customer_name": "Lyra Freight", "district": "southwest"},
    )
    with app.app_context():
        db.session.add(
            Ticket(rule="NAMED_ACCOUNT", registration_id=reg["id"], district="northeast", level=1)
        )
        db.session.commit()
    login(client, sides.reviewer)
    assert client.get(f"/registrations/{reg['id']}").status_code == 200
    assert re.search(
        r"Lyra Freight", client.get(f"/registrations/{reg['id']}").get_data(as_text=True)
    )


def test_a_partners_dry_run_tells_nothing_of_an_mcs_engagement(
    client: FlaskClient, sides: SimpleNamespace
) -> None:
    _post(
        client,
        sides.mcs,
        {
            "customer_name": "Nova Grid",
            "district": "northeast",
            "pc_count": 9000,
            "workloads": ["azure"],
        },
    )
    probe = {"customer_name": "Nova Grid", "district": "northeast", "workloads": ["azure"]}
    resp = client.post("/api/v1/conflict-check", json=probe, headers=_auth(sides.other))
    body = resp.get_json()
    assert resp.status_code == 200 and body["outcome"] == "in_conflict"
    # The rule code says which kind of claim it is; the sentences say nothing more of it.
    told = " ".join([body["summary"], *(f["message"] for f in body["findings"])])
    assert "9,000" not in told and "MCS" not in told
    assert "Another registration on Nova Grid may conflict" in told
    assert all(f["evidence"] == {} for f in body["findings"])
