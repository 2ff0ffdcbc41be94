"""The profile page: personal API tokens (shown once, listed, revoked) and notification mode."""

import re
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from models import ApiToken, User
from models.db import db
from tests.factories import csrf_from, login, make_user
from web.passwords import hash_token, new_token
from web.profile import MAX_ACTIVE_TOKENS


@pytest.fixture()
def people(app: Flask) -> SimpleNamespace:
    with app.app_context():
        alice, bob = make_user("partner"), make_user("partner")
        secret = new_token()
        db.session.add(
            ApiToken(user_id=bob.id, name="bob's", prefix=secret[:8], token_hash=hash_token(secret))
        )
        db.session.commit()
        bob_token = db.session.execute(sa.select(ApiToken.id)).scalar_one()
        return SimpleNamespace(alice=alice.email, alice_id=alice.id, bob_token=bob_token)


def create(client: FlaskClient, name: str = "CRM sync") -> tuple[int, str]:
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    resp = client.post("/profile/tokens", data={"csrf_token": token, "name": name})
    body = resp.get_data(as_text=True)
    found = re.search(r'id="new-token" value="(cg_[^"]+)"', body)
    return resp.status_code, found.group(1) if found else ""


def test_profile_requires_sign_in(client: FlaskClient, people: SimpleNamespace) -> None:
    resp = client.get("/profile")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_token_is_shown_once_and_works(
    app: Flask, client: FlaskClient, people: SimpleNamespace
) -> None:
    login(client, people.alice)
    status, secret = create(client)
    assert status == 201 and secret.startswith("cg_")
    api = client.get("/api/v1/registrations", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 200
    page = client.get("/profile")
    body = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"
    assert secret not in body and secret[:8] in body and "CRM sync" in body
    with app.app_context():
        row = db.session.execute(
            sa.select(ApiToken).where(ApiToken.user_id == people.alice_id)
        ).scalar_one()
        assert row.token_hash == hash_token(secret) and row.prefix == secret[:8]
    # Someone else's token never shows up on this page.
    assert "bob&#39;s" not in body and "bob's" not in body


def test_revoked_token_is_refused_by_the_api(
    app: Flask, client: FlaskClient, people: SimpleNamespace
) -> None:
    login(client, people.alice)
    _, secret = create(client)
    with app.app_context():
        token_id = db.session.execute(
            sa.select(ApiToken.id).where(ApiToken.user_id == people.alice_id)
        ).scalar_one()
    csrf = csrf_from(client.get("/profile").get_data(as_text=True))
    assert client.post(f"/profile/tokens/{token_id}/revoke").status_code == 400  # no CSRF
    resp = client.post(f"/profile/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert resp.status_code == 303
    api = client.get("/api/v1/registrations", headers={"Authorization": f"Bearer {secret}"})
    assert api.status_code == 401 and "revoked" in api.get_json()["error"]["message"]
    assert "Revoked" in client.get("/profile").get_data(as_text=True)


def test_cannot_revoke_someone_elses_token(
    app: Flask, client: FlaskClient, people: SimpleNamespace
) -> None:
    login(client, people.alice)
    csrf = csrf_from(client.get("/profile").get_data(as_text=True))
    resp = client.post(f"/profile/tokens/{people.bob_token}/revoke", data={"csrf_token": csrf})
    assert resp.status_code == 404
    with app.app_context():
        assert db.session.get(ApiToken, people.bob_token).revoked_at is None  # type: ignore[union-attr]


def test_token_name_is_required_and_active_tokens_are_capped(
    client: FlaskClient, people: SimpleNamespace
) -> None:
    login(client, people.alice)
    status, secret = create(client, name="")
    assert status == 422 and secret == ""
    for i in range(MAX_ACTIVE_TOKENS):
        assert create(client, name=f"t{i}")[0] == 201
    status, secret = create(client, name="one too many")
    assert status == 422 and secret == ""


def test_notification_preference(app: Flask, client: FlaskClient, people: SimpleNamespace) -> None:
    login(client, people.alice)
    page = client.get("/profile").get_data(as_text=True)
    assert re.search(r'<input checked id="notify_mode-0"[^>]*value="immediate"', page)
    csrf = csrf_from(page)
    resp = client.post("/profile/notifications", data={"csrf_token": csrf, "notify_mode": "digest"})
    assert resp.status_code == 303
    with app.app_context():
        assert db.session.get(User, people.alice_id).notify_mode == "digest"  # type: ignore[union-attr]
    bad = client.post("/profile/notifications", data={"csrf_token": csrf, "notify_mode": "pigeon"})
    assert bad.status_code == 422
    with app.app_context():
        assert db.session.get(User, people.alice_id).notify_mode == "digest"  # type: ignore[union-attr]


def test_api_call_records_last_use_without_committing_the_request(app, client) -> None:  # type: ignore[no-untyped-def]
    """A read through the API stamps the token's last use in its own short transaction."""
    from models import ApiToken
    from models.db import db
    from tests.factories import make_api_token, make_user

    with app.app_context():
        _, token = make_api_token(make_user("partner"))
        db.session.commit()
    resp = client.get("/api/v1/registrations", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    with app.app_context():
        row = db.session.query(ApiToken).one()
        assert row.last_used_at is not None
