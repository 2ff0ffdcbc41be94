"""The registrations JSON API: bearer tokens, idempotency, isolation, dry runs, OpenAPI, limits."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from conflict.schemas import MAX_ESTIMATED_VALUE
from models import ApiToken, OutboxMessage, Registration, User, WebhookEndpoint, utcnow
from models.db import db
from tests.factories import make_api_token, make_district, make_list, make_registration, make_user
from web.passwords import hash_token

# A close date the API accepts whenever the suite runs: a few months ahead.
CLOSE = (utcnow().date() + timedelta(days=200)).isoformat()
BODY: dict[str, Any] = {
    "customer_name": "Wayne Enterprises",
    "customer_domain": "wayneenterprises.com",
    "district": "northeast",
    "pc_count": 1200,
    "workloads": ["exchange", "sharepoint"],
    "solution_stack": "all_microsoft",
    "estimated_value": 80_000,
    "expected_close_date": CLOSE,
    "infrastructure_maturity": "rationalized",
    "notes": "via the API",
}


def token_for(user: User) -> str:
    return make_api_token(user)[1]


@pytest.fixture()
def world(app: Flask) -> SimpleNamespace:
    with app.app_context():
        make_district("northeast", "east")
        make_user("reviewer", districts=["northeast"])
        make_list(
            [
                {
                    "name": "Caterpillar Inc.",
                    "domain": "caterpillar.com",
                    "district": "northeast",
                    "mcs_owner_email": "owner@mcs.example.com",
                }
            ]
        )
        alice, bob = make_user("partner"), make_user("partner")
        mcs, reviewer, admin = make_user("mcs"), make_user("reviewer"), make_user("admin")
        ns = SimpleNamespace(
            alice=token_for(alice),
            alice_id=alice.id,
            alice_partner=alice.partner_id,
            bob=token_for(bob),
            bob_id=bob.id,
            mcs=token_for(mcs),
            reviewer=token_for(reviewer),
            admin=token_for(admin),
        )
        db.session.commit()
        return ns


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def count(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Registration)).scalar_one()


def assert_error(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    body = resp.get_json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])
    if code:
        assert body["error"]["code"] == code
    return body["error"]  # type: ignore[no-any-return]


# Authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "bearer token is required"),
        ("Basic dXNlcjpwYXNz", "bearer token is required"),
        ("Bearer ", "bearer token is required"),
        ("Bearer cg_not-a-real-token", "not valid"),
    ],
)
def test_missing_or_wrong_tokens_are_401(
    client: FlaskClient, world: SimpleNamespace, header: str | None, message: str
) -> None:
    headers = {"Authorization": header} if header else {}
    for method, url in [
        ("get", "/api/v1/registrations"),
        ("post", "/api/v1/registrations"),
        ("get", "/api/v1/registrations/1"),
        ("post", "/api/v1/conflict-check"),
    ]:
        resp = getattr(client, method)(url, headers=headers, json=BODY)
        err = assert_error(resp, 401, "unauthorized")
        assert message in err["message"]


def test_revoked_token_is_401(app: Flask, client: FlaskClient, world: SimpleNamespace) -> None:
    assert client.get("/api/v1/registrations", headers=auth(world.alice)).status_code == 200
    with app.app_context():
        row = db.session.execute(
            sa.select(ApiToken).where(ApiToken.token_hash == hash_token(world.alice))
        ).scalar_one()
        row.revoked_at = utcnow()
        db.session.commit()
    err = assert_error(client.get("/api/v1/registrations", headers=auth(world.alice)), 401)
    assert "revoked" in err["message"]


# Submitting -----------------------------------------------------------------------------------


def test_submit_answers_201_with_the_decision(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    resp = client.post("/api/v1/registrations", json=BODY, headers=auth(world.alice))
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["status"] == "approved" and body["findings"] == [] and body["ticket_id"] is None
    assert body["partner_id"] == world.alice_partner and body["party"] == "partner"
    assert body["expected_close_date"] == CLOSE
    assert resp.headers["Location"].endswith(f"/api/v1/registrations/{body['id']}")
    for key in BODY:
        assert body[key] == BODY[key], key


def test_named_account_conflict_carries_findings_and_ticket(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    data = {**BODY, "customer_name": "Caterpillar", "customer_domain": "caterpillar.com"}
    resp = client.post("/api/v1/registrations", json=data, headers=auth(world.alice))
    assert resp.status_code == 201
    body = resp.get_json()
    assert body["status"] == "in_conflict" and isinstance(body["ticket_id"], int)
    assert body["ticket_ids"] == [body["ticket_id"]]
    (finding,) = body["findings"]
    assert finding["rule"] == "NAMED_ACCOUNT" and finding["severity"] == "conflict"
    assert finding["account_name"] == "Caterpillar Inc." and finding["method"] == "domain"
    assert finding["score"] == 100 and isinstance(finding["account_id"], int)
    assert finding["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer_name": ""}, "customer_name"),
        ({"workloads": []}, "workloads"),
        ({"workloads": ["teleportation"]}, "workloads.0"),
        ({"pc_count": -3}, "pc_count"),
        ({"country": "USA"}, "country"),
        ({"customer_domain": "gmail.com"}, "customer_domain"),
        ({"solution_stack": "cheap"}, "solution_stack"),
        ({"expected_close_date": "soon"}, "expected_close_date"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"pc_count": True}, "pc_count"),
        ({"pc_count": False}, "pc_count"),
        ({"estimated_value": True}, "estimated_value"),
        ({"estimated_value": 5_000_000_000}, "estimated_value"),
        ({"estimated_value": MAX_ESTIMATED_VALUE + 1}, "estimated_value"),
        ({"expected_close_date": "2001-01-01"}, "expected_close_date"),
        ({"expected_close_date": "9999-12-31"}, "expected_close_date"),
        ({"country": "ZZ"}, "country"),
    ],
)
def test_invalid_bodies_are_422_with_field_messages(
    app: Flask, client: FlaskClient, world: SimpleNamespace, change: dict[str, Any], field: str
) -> None:
    resp = client.post("/api/v1/registrations", json={**BODY, **change}, headers=auth(world.alice))
    err = assert_error(resp, 422, "invalid")
    assert field in err["details"]["fields"], err
    assert count(app) == 0


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"pc_count": True}, "pc_count", "not true or false"),
        ({"estimated_value": False}, "estimated_value", "not true or false"),
        ({"expected_close_date": "2001-01-01"}, "expected_close_date", "from today to 5 years"),
        ({"expected_close_date": "9999-12-31"}, "expected_close_date", "no later than"),
        ({"country": "ZZ"}, "country", "ZZ is not an ISO 3166-1 country code"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/registrations", "/api/v1/conflict-check"])
def test_refusals_say_what_is_wrong_with_the_field(
    app: Flask,
    client: FlaskClient,
    world: SimpleNamespace,
    path: str,
    change: dict[str, Any],
    field: str,
    message: str,
) -> None:
    resp = client.post(path, json={**BODY, **change}, headers=auth(world.alice))
    err = assert_error(resp, 422, "invalid")
    assert message in err["details"]["fields"][field], err
    assert count(app) == 0


def test_numbers_keep_their_lax_reading_but_booleans_are_refused(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    # Text holding a whole number is read as that number, as before; true is not a number.
    data = {**BODY, "pc_count": "1200", "estimated_value": str(MAX_ESTIMATED_VALUE)}
    resp = client.post("/api/v1/registrations", json=data, headers=auth(world.alice))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    body = resp.get_json()
    assert (body["pc_count"], body["estimated_value"]) == (1200, MAX_ESTIMATED_VALUE)
    shown = client.get(resp.headers["Location"], headers=auth(world.alice)).get_json()
    assert shown["estimated_value"] == MAX_ESTIMATED_VALUE
    refused = client.post(
        "/api/v1/registrations", json={**BODY, "pc_count": True}, headers=auth(world.alice)
    )
    assert_error(refused, 422, "invalid")


def test_close_date_window_and_lowercase_country_codes(
    client: FlaskClient, world: SimpleNamespace
) -> None:
    with time_machine.travel(utcnow(), tick=False):
        today = utcnow().date()
        for i, close in enumerate([today, today + timedelta(days=4 * 365)]):
            data = {**BODY, "customer_name": f"Window Co {i}", "customer_domain": None}
            data.update(expected_close_date=close.isoformat(), country="gb")
            resp = client.post("/api/v1/registrations", json=data, headers=auth(world.alice))
            assert resp.status_code == 201, resp.get_data(as_text=True)
            assert resp.get_json()["country"] == "GB"
        late = {**BODY, "expected_close_date": (today - timedelta(days=2)).isoformat()}
        resp = client.post("/api/v1/registrations", json=late, headers=auth(world.alice))
        assert "expected_close_date" in assert_error(resp, 422)["details"]["fields"]


@pytest.mark.parametrize(
    ("token", "change", "field"),
    [
        ("alice", {"district": "atlantis"}, "district"),
        ("alice", {"party": "mcs"}, "party"),
        ("mcs", {"party": "partner"}, "party"),
    ],
)
def test_business_rule_errors_are_422(
    app: Flask,
    client: FlaskClient,
    world: SimpleNamespace,
    token: str,
    change: dict[str, Any],
    field: str,
) -> None:
    resp = client.post(
        "/api/v1/registrations", json={**BODY, **change}, headers=auth(getattr(world, token))
    )
    err = assert_error(resp, 422)
    assert field in err["details"]["fields"]
    assert count(app) == 0


def test_reviewers_may_not_submit(client: FlaskClient, world: SimpleNamespace) -> None:
    resp = client.post("/api/v1/registrations", json=BODY, headers=auth(world.reviewer))
    assert_error(resp, 403, "forbidden")


def test_idempotency_key_replays_and_refuses_a_different_body(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    headers = auth(world.alice, **{"Idempotency-Key": "order-4711"})
    first = client.post("/api/v1/registrations", json=BODY, headers=headers)
    again = client.post("/api/v1/registrations", json=BODY, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["id"] == first.get_json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    changed = client.post("/api/v1/registrations", json={**BODY, "pc_count": 99}, headers=headers)
    assert_error(changed, 409, "idempotency_key_reused")
    # The key belongs to its user: another user's same key is a new registration.
    bob = client.post(
        "/api/v1/registrations",
        json={**BODY, "customer_name": "Stark Industries", "customer_domain": None},
        headers=auth(world.bob, **{"Idempotency-Key": "order-4711"}),
    )
    assert bob.status_code == 201
    assert count(app) == 2
    too_long = client.post(
        "/api/v1/registrations",
        json=BODY,
        headers=auth(world.alice, **{"Idempotency-Key": "k" * 129}),
    )
    assert_error(too_long, 422)


def test_concurrent_submissions_with_one_key_create_one_registration(
    app: Flask, world: SimpleNamespace
) -> None:
    workers = 4
    barrier = threading.Barrier(workers)
    statuses: list[int] = []
    ids: set[int] = set()
    errors: list[BaseException] = []
    headers = auth(world.alice, **{"Idempotency-Key": "same-key-everywhere"})

    def post() -> None:
        client = app.test_client()
        try:
            barrier.wait(timeout=10)
            resp = client.post("/api/v1/registrations", json=BODY, headers=headers)
            statuses.append(resp.status_code)
            ids.add(resp.get_json()["id"])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sorted(statuses) == [200] * (workers - 1) + [201]
    assert len(ids) == 1
    assert count(app) == 1


# Reading --------------------------------------------------------------------------------------


def _seed(app: Flask, world: SimpleNamespace) -> SimpleNamespace:
    with app.app_context():
        alice = db.session.get(User, world.alice_id)
        bob = db.session.get(User, world.bob_id)
        mine = [
            make_registration(alice, customer_name=f"Alpha {i}", status=s).id
            for i, s in enumerate(["approved", "rejected", "approved", "in_conflict", "approved"])
        ]
        theirs = make_registration(bob, customer_name="Bravo Secret", district="northeast").id
        elsewhere = make_registration(bob, customer_name="Bravo West", district="southwest").id
        db.session.commit()
    return SimpleNamespace(mine=mine, theirs=theirs, elsewhere=elsewhere)


def test_list_is_scoped_filtered_and_paginated(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    seeded = _seed(app, world)
    seen: list[int] = []
    url = "/api/v1/registrations?limit=2"
    cursor: str | None = None
    for _ in range(5):
        resp = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=auth(world.alice))
        assert resp.status_code == 200
        body = resp.get_json()
        assert set(body) == {"items", "next_cursor"}
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seeded.mine, reverse=True)
    filtered = client.get(
        "/api/v1/registrations?status=approved&customer=ALPHA", headers=auth(world.alice)
    ).get_json()
    assert [i["id"] for i in filtered["items"]] == [seeded.mine[4], seeded.mine[2], seeded.mine[0]]
    admin = client.get("/api/v1/registrations", headers=auth(world.admin)).get_json()
    assert seeded.theirs in [i["id"] for i in admin["items"]]
    assert_error(client.get("/api/v1/registrations?cursor=garbage", headers=auth(world.alice)), 400)
    assert_error(client.get("/api/v1/registrations?status=nope", headers=auth(world.alice)), 422)
    assert_error(client.get("/api/v1/registrations?limit=1000", headers=auth(world.alice)), 422)
    assert_error(client.get("/api/v1/registrations", headers=auth(world.reviewer)), 403)


def test_detail_isolation(app: Flask, client: FlaskClient, world: SimpleNamespace) -> None:
    seeded = _seed(app, world)
    own = client.get(f"/api/v1/registrations/{seeded.mine[0]}", headers=auth(world.alice))
    assert own.status_code == 200 and own.get_json()["customer_name"] == "Alpha 0"
    other = client.get(f"/api/v1/registrations/{seeded.theirs}", headers=auth(world.alice))
    err = assert_error(other, 404, "not_found")
    assert "Bravo" not in err["message"]
    assert_error(client.get("/api/v1/registrations/999999", headers=auth(world.alice)), 404)
    # MCS sellers see partner registrations only when a conflict involves them.
    assert_error(client.get(f"/api/v1/registrations/{seeded.theirs}", headers=auth(world.mcs)), 404)
    for staff in (world.reviewer, world.admin):
        resp = client.get(f"/api/v1/registrations/{seeded.theirs}", headers=auth(staff))
        assert resp.status_code == 200
    # A district reviewer reads only their territory's registrations; the admin reads all.
    far = f"/api/v1/registrations/{seeded.elsewhere}"
    assert_error(client.get(far, headers=auth(world.reviewer)), 404, "not_found")
    assert client.get(far, headers=auth(world.admin)).status_code == 200


# Dry runs -------------------------------------------------------------------------------------


def test_conflict_check_is_a_dry_run(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    data = {**BODY, "customer_name": "Caterpillar", "customer_domain": "caterpillar.com"}
    resp = client.post("/api/v1/conflict-check", json=data, headers=auth(world.alice))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["outcome"] == "in_conflict" and body["list_version_id"] is not None
    (finding,) = body["findings"]
    assert finding["rule"] == "NAMED_ACCOUNT" and finding["account_name"] == "Caterpillar Inc."
    assert {"rule", "severity", "message", "account_id", "method", "score", "evidence"} <= set(
        finding
    )
    assert "Caterpillar" in body["summary"]
    assert count(app) == 0
    clean = client.post("/api/v1/conflict-check", json=BODY, headers=auth(world.alice))
    assert clean.get_json()["outcome"] == "approved" and clean.get_json()["findings"] == []
    bad = client.post(
        "/api/v1/conflict-check", json={**BODY, "district": "atlantis"}, headers=auth(world.alice)
    )
    assert "district" in assert_error(bad, 422)["details"]["fields"]
    assert count(app) == 0


# The OpenAPI document and rate limits ---------------------------------------------------------


def test_openapi_document_validates_and_describes_the_registration_routes(
    client: FlaskClient,
) -> None:
    from openapi_spec_validator import validate

    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    validate(doc)
    paths = doc["paths"]
    post = paths["/api/v1/registrations"]["post"]
    assert {"200", "201", "401", "409", "422", "429"} <= set(post["responses"])
    assert [p["name"] for p in post["parameters"]] == ["Idempotency-Key"]
    assert "requestBody" in post
    listing = paths["/api/v1/registrations"]["get"]
    assert {"status", "customer", "cursor", "limit"} <= {p["name"] for p in listing["parameters"]}
    assert "get" in paths["/api/v1/registrations/{reg_id}"]
    assert "post" in paths["/api/v1/conflict-check"]
    assert any(name.startswith("ErrorOut") for name in doc["components"]["schemas"])


@pytest.fixture()
def low_limit(app: Flask) -> Iterator[None]:
    from web.security import limiter

    old = app.config["API_RATE_LIMIT"]
    app.config["API_RATE_LIMIT"] = "3 per minute"
    limiter.reset()
    yield
    app.config["API_RATE_LIMIT"] = old
    limiter.reset()


def test_rate_limit_answers_429_with_retry_after(
    client: FlaskClient, world: SimpleNamespace, low_limit: None
) -> None:
    for _ in range(3):
        ok = client.get("/api/v1/registrations", headers=auth(world.alice))
        assert ok.status_code == 200
        assert "X-RateLimit-Limit" in ok.headers
    limited = client.get("/api/v1/registrations", headers=auth(world.alice))
    assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    # The limit is per token: another caller is unaffected.
    assert client.get("/api/v1/registrations", headers=auth(world.bob)).status_code == 200


def test_unique_constraint_backstop_turns_a_lost_race_into_a_replay(
    app: Flask, client: FlaskClient, world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conflict.api
    import conflict.service

    headers = auth(world.alice, **{"Idempotency-Key": "raced"})
    first = client.post("/api/v1/registrations", json=BODY, headers=headers)
    assert first.status_code == 201
    # Make every look-up before the insert miss, as when two requests pass it at the same time.
    # The copy covers other workloads, so only the key's unique constraint stands in its way.
    monkeypatch.setattr(conflict.service, "find_by_idempotency_key", lambda *a: None)
    again = client.post(
        "/api/v1/registrations", json={**BODY, "workloads": ["azure"]}, headers=headers
    )
    assert again.status_code == 409, again.get_data(as_text=True)
    assert again.get_json()["error"]["code"] == "idempotency_key_reused"
    assert again.get_json()["error"]["details"]["registration_id"] == first.get_json()["id"]
    assert count(app) == 1


def test_a_copy_that_waited_for_the_customer_lock_is_answered_as_a_replay(
    app: Flask, client: FlaskClient, world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conflict.service

    headers = auth(world.alice, **{"Idempotency-Key": "waited"})
    first = client.post("/api/v1/registrations", json=BODY, headers=headers)
    assert first.status_code == 201
    # The copy's first look-up ran before the original committed; inside the lock it finds
    # the original as a registration it already holds, and that is this very request.
    real = conflict.service.find_by_idempotency_key
    misses = iter([None])
    monkeypatch.setattr(
        conflict.service, "find_by_idempotency_key", lambda *a: next(misses, None) or real(*a)
    )
    again = client.post("/api/v1/registrations", json=BODY, headers=headers)
    assert again.status_code == 200, again.get_data(as_text=True)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert count(app) == 1


def test_registering_again_what_the_organisation_holds_is_refused(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    first = client.post("/api/v1/registrations", json=BODY, headers=auth(world.alice))
    assert first.status_code == 201
    reg_id = first.get_json()["id"]
    again = client.post(
        "/api/v1/registrations",
        json={**BODY, "customer_domain": None, "workloads": ["sharepoint", "azure"]},
        headers=auth(world.alice),
    )
    # A conflict with a resource that exists: 409, naming it for a script to follow.
    error = assert_error(again, 409, "duplicate_registration")
    assert f"already holds registration #{reg_id}" in error["message"]
    assert "SharePoint" in error["message"] and "extension" in error["message"]
    assert error["details"]["fields"] == {"customer_name": error["message"]}
    assert error["details"]["registration_id"] == reg_id
    assert count(app) == 1
    dry = client.post(
        "/api/v1/conflict-check", json={**BODY, "customer_domain": None}, headers=auth(world.alice)
    )
    assert assert_error(dry, 409, "duplicate_registration")["details"]["registration_id"] == reg_id
    # Other workloads, or another partner's registration, are no copy.
    other_work = {**BODY, "workloads": ["azure"]}
    assert client.post("/api/v1/registrations", json=other_work, headers=auth(world.alice))
    assert (
        client.post("/api/v1/registrations", json=BODY, headers=auth(world.bob)).status_code == 201
    )
    # Once the registration is withdrawn, the deal may be registered afresh.
    with app.app_context():
        from conflict.service import withdraw_registration

        reg = db.session.get(Registration, reg_id)
        alice = db.session.get(User, world.alice_id)
        withdraw_registration(db.session, reg, user=alice, reason="The customer paused it.")
        db.session.commit()
    fresh = client.post("/api/v1/registrations", json=BODY, headers=auth(world.alice))
    assert fresh.status_code == 201, fresh.get_data(as_text=True)


# What a submission costs ---------------------------------------------------------------------


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """Collect the SQL statements the app's engine runs inside the block."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


NAMED = {**BODY, "customer_name": "Caterpillar", "customer_domain": "caterpillar.com"}
# Statements per submission: (approved, named-account conflict with its ticket and messages).
STATEMENT_BUDGETS = {"postgresql": (6, 13), "sqlite": (7, 19)}


@pytest.mark.parametrize("data", [BODY, NAMED], ids=["approved", "named-account conflict"])
def test_the_201_body_is_what_the_api_shows_afterwards(
    client: FlaskClient, world: SimpleNamespace, data: dict[str, Any]
) -> None:
    made = client.post("/api/v1/registrations", json=data, headers=auth(world.alice))
    assert made.status_code == 201
    shown = client.get(made.headers["Location"], headers=auth(world.alice))
    assert shown.status_code == 200
    assert made.get_json() == shown.get_json()


def test_a_submission_runs_a_bounded_number_of_statements(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    # The first call builds the list's match index and stamps the token's last use.
    warm = {**BODY, "customer_name": "Acme Warm-up Holdings", "customer_domain": "acme-warm.com"}
    assert client.post("/api/v1/registrations", json=warm, headers=auth(world.alice)).status_code
    with statements(app) as plain:
        resp = client.post("/api/v1/registrations", json=BODY, headers=auth(world.alice))
    assert resp.status_code == 201 and resp.get_json()["status"] == "approved"
    with statements(app) as named:
        resp = client.post("/api/v1/registrations", json=NAMED, headers=auth(world.alice))
    assert resp.status_code == 201 and resp.get_json()["status"] == "in_conflict"
    # A regression here (a query per finding, a read-back after the commit) multiplies under
    # load. SQLite adds its BEGIN and writes each outbox row with a statement of its own.
    with app.app_context():
        dialect = db.engine.dialect.name
    plain_budget, named_budget = STATEMENT_BUDGETS[dialect]
    assert len(plain) <= plain_budget, "\n".join(plain)
    assert len(named) <= named_budget, "\n".join(named)


def _webhooks_of(app: Flask, event: str) -> list[tuple[int | None, str]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboxMessage.endpoint_id, OutboxMessage.event).where(
                OutboxMessage.channel == "webhook", OutboxMessage.event == event
            )
        ).all()
        return [(r.endpoint_id, r.event) for r in rows]


def test_a_submission_tells_the_enabled_subscribed_endpoints(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    with app.app_context():
        url = "https://hooks.example.com/{}"
        every = WebhookEndpoint(url=url.format("all"), secret="s" * 32)
        tickets_only = WebhookEndpoint(
            url=url.format("tickets"), secret="s" * 32, events=["ticket.opened"]
        )
        off = WebhookEndpoint(url=url.format("off"), secret="s" * 32, enabled=False)
        db.session.add_all([every, tickets_only, off])
        db.session.commit()
        every_id, tickets_id = every.id, tickets_only.id
    resp = client.post("/api/v1/registrations", json=NAMED, headers=auth(world.alice))
    assert resp.status_code == 201 and resp.get_json()["status"] == "in_conflict"
    assert _webhooks_of(app, "registration.submitted") == [(every_id, "registration.submitted")]
    assert sorted(_webhooks_of(app, "ticket.opened")) == sorted(
        [(every_id, "ticket.opened"), (tickets_id, "ticket.opened")]
    )


def test_without_an_enabled_endpoint_a_submission_reads_no_endpoints(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    with app.app_context():
        db.session.add(
            WebhookEndpoint(url="https://h.example.com/x", secret="s" * 32, enabled=False)
        )
        db.session.commit()
    with statements(app) as seen:
        resp = client.post("/api/v1/registrations", json=NAMED, headers=auth(world.alice))
    assert resp.status_code == 201 and resp.get_json()["status"] == "in_conflict"
    assert not [s for s in seen if "FROM webhook_endpoint" in s and "EXISTS" not in s]
    assert _webhooks_of(app, "registration.submitted") == []


def test_endpoints_named_in_the_configuration_hear_the_first_submission(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    # The table is empty, so the first query sees no enabled endpoint; the configured ones are
    # still added and told.
    app.config["WEBHOOK_URLS"] = ["https://hooks.example.com/configured"]
    try:
        resp = client.post("/api/v1/registrations", json=BODY, headers=auth(world.alice))
    finally:
        app.config["WEBHOOK_URLS"] = []
    assert resp.status_code == 201
    with app.app_context():
        configured = db.session.execute(sa.select(WebhookEndpoint.id)).scalar_one()
    assert _webhooks_of(app, "registration.submitted") == [(configured, "registration.submitted")]
