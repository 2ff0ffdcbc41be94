"""The live pre-check gives the verdict a submission of the same form gets.

Each case fills the registration form once; the pre-check is asked with the JSON the page's
script sends for it, then the form is submitted, and both answers must agree. The browser cases
check that the script really sends every field the rules read.
"""

import json
import re
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from models import ConflictFinding, Registration
from models.db import db
from tests.factories import csrf_from, login, make_district, make_list, make_user

ACCOUNTS = [
    {
        "account_id": "CAT",
        "name": "Caterpillar Inc.",
        "domain": "caterpillar.com",
        "district": "northeast",
        "mcs_owner_email": "owner@mcs.example.com",
        "pc_count": 90_000,
    },
]


@pytest.fixture()
def world(app: Flask) -> SimpleNamespace:
    """A district, a published list, two partners, an MCS seller and an admin."""
    from conflict import index_cache

    with app.app_context():
        index_cache.clear()
        make_district("northeast", "east", name="Northeast")
        make_list(ACCOUNTS)
        alice, bob = make_user("partner"), make_user("partner")
        mcs, admin = make_user("mcs"), make_user("admin")
        db.session.commit()
        return SimpleNamespace(alice=alice.email, bob=bob.email, mcs=mcs.email, admin=admin.email)


def script_payload(form: dict[str, Any]) -> dict[str, Any]:
    """Return the JSON static/js/precheck.js sends for a filled-in form."""
    return {
        "customer_name": form.get("customer_name", ""),
        "customer_domain": form.get("customer_domain", ""),
        "district": form.get("district", ""),
        "pc_count": str(form.get("pc_count", "")),
        "workloads": list(form.get("workloads", [])),
        "solution_stack": form.get("solution_stack", ""),
        "dotnet_early_adoption": bool(form.get("dotnet_early_adoption")),
        "estimated_value": str(form.get("estimated_value", "")),
    }


def precheck(client: FlaskClient, form: dict[str, Any]) -> dict[str, Any]:
    token = csrf_from(client.get("/registrations/new").get_data(as_text=True))
    resp = client.post(
        "/registrations/precheck",
        data=json.dumps(script_payload(form)),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert resp.status_code == 200
    data: dict[str, Any] = resp.get_json()
    return data


def submit(client: FlaskClient, form: dict[str, Any]) -> int:
    page_html = client.get("/registrations/new").get_data(as_text=True)
    nonce = re.search(r'name="nonce" type="hidden" value="([^"]+)"', page_html)
    assert nonce is not None
    data: dict[str, Any] = {"country": "US", "csrf_token": csrf_from(page_html)}
    data["nonce"] = nonce.group(1)
    for key, value in form.items():
        if key == "dotnet_early_adoption":
            if value:
                data[key] = "y"
        else:
            data[key] = value
    resp = client.post("/registrations/new", data=data)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def stored(app: Flask, reg_id: int) -> tuple[str, list[str]]:
    with app.app_context():
        reg = db.session.get(Registration, reg_id)
        assert reg is not None
        messages = db.session.execute(
            sa.select(ConflictFinding.message)
            .where(ConflictFinding.registration_id == reg_id)
            .order_by(ConflictFinding.id)
        ).scalars()
        return reg.status, list(messages)


def as_user(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


BROOKFIELD = {
    "customer_name": "Brookfield Dairy Coop",
    "pc_count": 100,
    "workloads": ["dotnet_server"],
    "dotnet_early_adoption": True,
    "estimated_value": 900_000,
}
HOOLI_HELD = {"customer_name": "Hooli", "workloads": ["exchange"]}


@pytest.mark.parametrize(
    ("who", "form", "outcome"),
    [
        ("mcs", BROOKFIELD, "in_exception_review"),
        ("admin", BROOKFIELD, "in_exception_review"),
        ("mcs", BROOKFIELD | {"estimated_value": 1000}, "rejected"),
        ("mcs", BROOKFIELD | {"pc_count": 4001, "dotnet_early_adoption": False}, "approved"),
        ("alice", HOOLI_HELD | {"solution_stack": "all_microsoft"}, "in_conflict"),
        ("alice", HOOLI_HELD | {"solution_stack": "competitive_middleware"}, "in_conflict"),
        ("alice", {"customer_name": "Hooli", "workloads": ["yammer"]}, "approved"),
        ("alice", {"customer_name": "Caterpillar", "workloads": ["exchange"]}, "in_conflict"),
    ],
)
def test_precheck_outcome_is_the_submissions(
    app: Flask, world: SimpleNamespace, who: str, form: dict[str, Any], outcome: str
) -> None:
    # Another partner holds Hooli for Exchange without an all-Microsoft stack.
    submit(as_user(app, world.bob), HOOLI_HELD)
    client = as_user(app, getattr(world, who))
    live = precheck(client, form)
    status, messages = stored(app, submit(client, form))
    assert (live["outcome"], status) == (outcome, outcome)
    assert len(live["details"]) == len(messages)


@pytest.mark.parametrize(
    ("who", "form"),
    [
        ("mcs", BROOKFIELD),
        ("mcs", BROOKFIELD | {"estimated_value": 1000}),
    ],
)
def test_precheck_sentences_are_the_submissions(
    app: Flask, world: SimpleNamespace, who: str, form: dict[str, Any]
) -> None:
    # An exception or a rejection must read the same before and after submitting.
    submit(as_user(app, world.bob), HOOLI_HELD)
    client = as_user(app, getattr(world, who))
    live = precheck(client, form)
    _, messages = stored(app, submit(client, form))
    assert live["details"] == messages


@pytest.mark.parametrize("stack", ["all_microsoft", "competitive_middleware"])
def test_a_partner_dry_run_tells_nothing_of_the_other_claim(
    app: Flask, world: SimpleNamespace, stack: str
) -> None:
    # Repeated with every workload and stack, a dry run that told the priority verdict would map
    # another partner's deal; only the submission, which leaves a record and a ticket, tells it.
    submit(as_user(app, world.bob), HOOLI_HELD)
    client = as_user(app, world.alice)
    form = HOOLI_HELD | {"solution_stack": stack}
    live = precheck(client, form)
    assert live["verdict"] == "Another registration on this customer may conflict"
    told = json.dumps(live)
    for detail in ("Exchange", "all-Microsoft", "priority", "partner", "submitted earlier"):
        assert detail not in told
    _, messages = stored(app, submit(client, form))
    leader = "This registration" if stack == "all_microsoft" else "The other partner's registration"
    assert f"{leader} has priority because" in messages[0]


def test_an_exception_is_announced_as_such(app: Flask, world: SimpleNamespace) -> None:
    live = precheck(as_user(app, world.mcs), BROOKFIELD)
    assert (live["verdict"], live["level"]) == ("Would go to exception review", "warning")
    assert "The engagement is rejected" not in json.dumps(live)


def test_an_exception_without_a_value_asks_for_it(app: Flask, world: SimpleNamespace) -> None:
    live = precheck(as_user(app, world.mcs), BROOKFIELD | {"estimated_value": ""})
    assert live["verdict"] == (
        "Check the estimated value: an early .NET adoption flag needs an estimated value"
    )
