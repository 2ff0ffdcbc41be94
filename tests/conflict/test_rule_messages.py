"""Rule sentences and evidence say what really happened, and tell partners no more than they may."""

import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from conflict.matching import AccountIndex
from conflict.rules import NAMED_ACCOUNT, NEEDS_REVIEW, PARTNER_OVERLAP, evaluate
from conflict.types import Account, Engagement, Facts, MatchDoubt, Policy
from models import ConflictFinding, Registration
from models.db import db
from tests.factories import (
    csrf_from,
    login,
    make_api_token,
    make_district,
    make_list,
    make_registration,
    make_user,
)

POLICY = Policy(version_id=1)
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)

ALPHABET_A = Account(1, "GOOGL", "Alphabet Inc. Class A", domain="abc.xyz", district="west")
ALPHABET_C = Account(2, "GOOG", "Alphabet Inc. Class C", domain="abc.xyz", district="west")
CATERPILLAR = Account(
    3,
    "CAT",
    "Caterpillar Inc.",
    domain="caterpillar.com",
    district="mid_atlantic",
    mcs_owner_email="owner@mcs.example.com",
)
HORSEHEAD = Account(4, "ZINC", "Horsehead Inc", district="mid_atlantic")
INDEX = AccountIndex.build([ALPHABET_A, ALPHABET_C, CATERPILLAR, HORSEHEAD], 7)


def decide(name: str, domain: str | None = None, **kw: Any) -> Any:
    facts = Facts(
        party=kw.pop("party", "partner"),
        customer_name=name,
        customer_domain=domain,
        pc_count=kw.pop("pc_count", 3000),
        workloads=frozenset({"exchange"}),
        partner_id=1,
        **kw,
    )
    return evaluate(facts, INDEX, [], POLICY)


# --- NEEDS_REVIEW says why the match is uncertain ------------------------------------------


def test_the_matcher_reports_why_a_match_is_uncertain() -> None:
    assert [m.doubts for m in INDEX.match("Alphabet")] == [(MatchDoubt.SHARED_NAME,)] * 2
    (cat,) = INDEX.match("Caterpillar Inc", "caterpillar-daycare.org")
    assert cat.doubts == (MatchDoubt.DOMAIN_DIFFERS,) and not cat.confident
    (zinc,) = INDEX.match("Horsehead Zinc")
    assert zinc.doubts == (MatchDoubt.BELOW_THRESHOLD,) and zinc.score < POLICY.fuzzy_match_score
    (sure,) = INDEX.match("Caterpillar Inc", "caterpillar.com")
    assert sure.confident and sure.doubts == ()


def test_a_shared_name_is_the_reason_not_a_low_score() -> None:
    (finding,) = decide("Alphabet").findings
    assert finding.rule == NEEDS_REVIEW
    assert finding.message.startswith(
        "Alphabet may be the named account Alphabet Inc. Class A (GOOGL), matched by exact name "
        "(score 100 of 100), but 2 named accounts share that name, so it is not clear which one "
        "it is. A channel manager will confirm"
    )
    assert "below the" not in finding.message


def test_a_contrary_domain_is_the_reason_not_a_low_score() -> None:
    (finding,) = decide("Caterpillar Inc", "caterpillar-daycare.org").findings
    assert finding.message.startswith(
        "Caterpillar Inc may be the named account Caterpillar Inc. (CAT), matched by exact name "
        "(score 100 of 100), but its web domain, caterpillar-daycare.org, is not the account's, "
        "caterpillar.com. A channel manager"
    )
    assert "below the" not in finding.message


def test_a_low_score_is_still_said_as_such() -> None:
    (finding,) = decide("Horsehead Zinc").findings
    assert finding.message.startswith(
        "Horsehead Zinc resembles the named account Horsehead Inc (ZINC), matched by name "
        "similarity (score 91 of 100), below the 92.0 needed to treat them as the same company. "
    )


def test_mcs_hint_gives_the_same_reason() -> None:
    (finding,) = decide("Alphabet", party="mcs", pc_count=100).findings
    assert "It may be the named account Alphabet Inc. Class A (GOOGL)" in finding.message
    assert "2 named accounts share that name" in finding.message
    assert "not closely enough" not in finding.message


# --- district names in sentences -----------------------------------------------------------


def test_named_account_sentence_uses_the_districts_name() -> None:
    facts = Facts(party="partner", customer_name="Caterpillar", customer_domain="caterpillar.com")
    named = {"mid_atlantic": "Mid-Atlantic"}
    (finding,) = evaluate(facts, INDEX, [], POLICY, district_names=named).findings
    assert finding.rule == NAMED_ACCOUNT
    assert "goes to the Mid-Atlantic district's channel manager" in finding.message
    assert "mid_atlantic" not in finding.message
    # The ticket is still routed by the code.
    assert finding.district == "mid_atlantic"


# --- partner-overlap evidence --------------------------------------------------------------


def test_a_leading_newcomer_claims_no_null_leader_id() -> None:
    other = Engagement(
        registration_id=41,
        party="partner",
        partner_id=2,
        partner_name="Other",
        workloads=frozenset({"exchange"}),
        solution_stack="competitive_middleware",
        submitted_at=T0,
    )
    facts = Facts(
        party="partner",
        customer_name="Initech",
        workloads=frozenset({"exchange"}),
        solution_stack="all_microsoft",
        partner_id=1,
        submitted_at=T0 + timedelta(days=1),
    )
    (finding,) = evaluate(facts, INDEX, [other], POLICY).findings
    assert finding.rule == PARTNER_OVERLAP
    assert finding.evidence["leader_is_this_registration"] is True
    assert "leader_registration_id" not in finding.evidence


# --- the app: stored evidence, dry runs ------------------------------------------------------


@pytest.fixture()
def world(app: Flask) -> SimpleNamespace:
    """Districts with names, a published list, two partners, an MCS seller and an admin."""
    from conflict import index_cache

    with app.app_context():
        index_cache.clear()
        make_district("mid_atlantic", "east", name="Mid-Atlantic")
        make_district("west", "west", name="West")
        make_list(
            [
                {"account_id": "GOOGL", "name": "Alphabet Inc. Class A", "district": "west"},
                {"account_id": "GOOG", "name": "Alphabet Inc. Class C", "district": "west"},
                {
                    "account_id": "CAT",
                    "name": "Caterpillar Inc.",
                    "domain": "caterpillar.com",
                    "district": "mid_atlantic",
                    "mcs_owner_email": "owner@mcs.example.com",
                },
            ]
        )
        alice, bob = make_user("partner"), make_user("partner")
        mcs, admin = make_user("mcs"), make_user("admin")
        tokens = {
            "alice": make_api_token(alice)[1],
            "mcs": make_api_token(mcs)[1],
            "admin": make_api_token(admin)[1],
        }
        db.session.commit()
        return SimpleNamespace(
            alice=alice.email, alice_id=alice.id, bob_id=bob.id, mcs=mcs.email, tokens=tokens
        )


def conflict_check(client: FlaskClient, token: str, **body: Any) -> dict[str, Any]:
    resp = client.post(
        "/api/v1/conflict-check",
        json={"workloads": ["exchange"], **body},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    data: dict[str, Any] = resp.get_json()
    return data


def precheck(client: FlaskClient, **body: Any) -> dict[str, Any]:
    token = csrf_from(client.get("/registrations/new").get_data(as_text=True))
    resp = client.post(
        "/registrations/precheck",
        data=json.dumps({"workloads": ["exchange"], **body}),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert resp.status_code == 200
    data: dict[str, Any] = resp.get_json()
    return data


LOOK_ALIKES = [
    {"customer_name": "Alphabet"},
    {"customer_name": "Caterpillar Inc", "customer_domain": "caterpillar-daycare.org"},
]
CANDIDATE_WORDS = ("Alphabet Inc", "GOOG", "Caterpillar Inc.", "CAT)", "caterpillar.com", "West")


@pytest.mark.parametrize("body", LOOK_ALIKES)
def test_a_partners_dry_run_names_no_look_alike(
    client: FlaskClient, world: SimpleNamespace, body: dict[str, Any]
) -> None:
    answer = conflict_check(client, world.tokens["alice"], **body)
    assert answer["outcome"] == "in_conflict"
    (finding,) = answer["findings"]
    assert finding["rule"] == NEEDS_REVIEW
    assert (finding["account_id"], finding["account_name"]) == (None, None)
    assert (finding["method"], finding["score"]) == (None, None)
    assert finding["evidence"] == {}
    shown = json.dumps(answer)
    assert "resembles a named account" in finding["message"]
    for word in (*CANDIDATE_WORDS, "west", "mid_atlantic", "Mid-Atlantic"):
        assert word not in shown, word
    login(client, world.alice)
    live = precheck(client, **body)
    assert live["verdict"] == "Needs review"
    for word in CANDIDATE_WORDS:
        assert word not in json.dumps(live), word


@pytest.mark.parametrize("who", ["mcs", "admin"])
def test_staff_dry_runs_still_name_the_look_alike(
    client: FlaskClient, world: SimpleNamespace, who: str
) -> None:
    answer = conflict_check(client, world.tokens[who], customer_name="Alphabet", pc_count=100)
    message = answer["findings"][0]["message"]
    assert "It may be the named account Alphabet Inc. Class A (GOOGL)" in message
    assert answer["findings"][0]["evidence"]["possible_account"]["account_name"] == (
        "Alphabet Inc. Class A"
    )


def test_a_partner_reads_a_named_account_as_the_look_up_tells_it(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    body = {"customer_name": "Caterpillar", "customer_domain": "caterpillar.com"}
    answer = conflict_check(client, world.tokens["alice"], **body)
    (finding,) = answer["findings"]
    assert finding["rule"] == NAMED_ACCOUNT and finding["account_name"] == "Caterpillar Inc."
    # The sentence names the owner, as the look-up page does; the evidence does not carry it.
    assert "owner@mcs.example.com" in finding["message"]
    assert "mcs_owner_email" not in finding["evidence"]
    assert "the Mid-Atlantic district's channel manager" in finding["message"]
    staff = conflict_check(client, world.tokens["admin"], **body | {"pc_count": 100})
    assert staff["outcome"] == "approved"


def test_a_partners_stored_finding_carries_no_owner_address(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    headers = {"Authorization": f"Bearer {world.tokens['alice']}"}
    body = {"customer_name": "Caterpillar", "customer_domain": "caterpillar.com"}
    resp = client.post(
        "/api/v1/registrations", json={"workloads": ["exchange"], **body}, headers=headers
    )
    assert resp.status_code == 201
    reg_id = resp.get_json()["id"]
    got = client.get(f"/api/v1/registrations/{reg_id}", headers=headers).get_json()
    assert got["findings"][0]["rule"] == NAMED_ACCOUNT
    assert "mcs_owner_email" not in got["findings"][0]["evidence"]


def test_stored_evidence_names_a_leading_newcomer(app: Flask, world: SimpleNamespace) -> None:
    from conflict.schemas import RegistrationCreate
    from conflict.service import submit_registration
    from models import User

    with app.app_context():
        bob = db.session.get(User, world.bob_id)
        alice = db.session.get(User, world.alice_id)
        assert bob is not None and alice is not None
        held = make_registration(
            bob,
            customer_name="Initech",
            customer_key="n:initech",
            solution_stack="competitive_middleware",
        )
        data = RegistrationCreate(
            customer_name="Initech", workloads=["exchange"], solution_stack="all_microsoft"
        )
        result = submit_registration(db.session, data, user=alice)
        db.session.commit()
        reg = result.registration
        assert held.id is not None and reg.id is not None
        row = db.session.execute(
            sa.select(ConflictFinding).where(ConflictFinding.registration_id == reg.id)
        ).scalar_one()
        assert row.rule == PARTNER_OVERLAP
        assert row.evidence["leader_is_this_registration"] is True
        assert row.evidence["leader_registration_id"] == reg.id
        assert db.session.get(Registration, reg.id) is not None


def test_a_partners_dry_run_names_the_district(client: FlaskClient, world: SimpleNamespace) -> None:
    login(client, world.alice)
    live = precheck(client, customer_name="Caterpillar", customer_domain="caterpillar.com")
    assert "the Mid-Atlantic district's channel manager" in live["details"][0]


def test_a_stored_finding_names_the_district(client: FlaskClient, world: SimpleNamespace) -> None:
    headers = {"Authorization": f"Bearer {world.tokens['alice']}"}
    body = {"customer_name": "Caterpillar", "customer_domain": "caterpillar.com"}
    resp = client.post(
        "/api/v1/registrations", json={"workloads": ["exchange"], **body}, headers=headers
    )
    assert (
        "the Mid-Atlantic district's channel manager" in resp.get_json()["findings"][0]["message"]
    )


def test_an_approved_submission_reads_no_district_names(app: Flask, world: SimpleNamespace) -> None:
    from conflict.service import LazyDistrictNames

    with app.app_context():
        names = LazyDistrictNames(db.session)
        assert names._names is None  # nothing read until a sentence asks
        assert names.get("mid_atlantic") == "Mid-Atlantic"
        assert names._names is not None
