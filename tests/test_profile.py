"""The profile page: personal API tokens (shown once, listed, revoked) and notification mode."""

import re
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from models import ApiToken, AuditEvent, LoginAttempt, User
from models.db import db
from tests.factories import PASSWORD, csrf_from, login, make_user
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


NEW_PASSWORD = "a brand new passphrase"


def _change(client: FlaskClient, current: str, new: str, repeat: str | None = None) -> Any:
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    data = {
        "csrf_token": token,
        "current_password": current,
        "new_password": new,
        "confirm_password": new if repeat is None else repeat,
    }
    return client.post("/profile/password", data=data)


def _password_hash(app: Flask, user_id: int) -> str:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        return user.password_hash


def _failures(app: Flask, email: str) -> int:
    with app.app_context():
        return db.session.execute(
            sa.select(sa.func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.key == f"email:{email}", LoginAttempt.success.is_(False))
        ).scalar_one()


@pytest.mark.parametrize("role", ["partner", "mcs", "reviewer", "admin"])
def test_user_changes_own_password_and_only_other_sessions_end(
    app: Flask, client: FlaskClient, role: str
) -> None:
    with app.app_context():
        user = make_user(role)
        email, user_id = user.email, user.id
        db.session.commit()
    login(client, email)
    elsewhere = app.test_client()
    login(elsewhere, email)
    page = client.get("/profile").get_data(as_text=True)
    assert 'action="/profile/password"' in page and 'autocomplete="current-password"' in page
    before = _password_hash(app, user_id)
    resp = _change(client, PASSWORD, NEW_PASSWORD)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/profile")
    after = client.get("/profile")
    assert after.status_code == 200 and "Your password was changed" in after.get_data(as_text=True)
    assert _password_hash(app, user_id) != before
    # The other browser is signed out; this one stays signed in.
    assert elsewhere.get("/profile").status_code == 302
    assert client.get("/profile").status_code == 200
    assert login(app.test_client(), email).status_code == 401
    assert login(app.test_client(), email, NEW_PASSWORD).status_code == 302
    with app.app_context():
        [event] = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "user.password_changed")
        ).scalars()
        assert event.actor_id == user_id and event.object_id == str(user_id)
        assert "password" not in str(event.data or {})


def test_a_copied_cookie_stops_working_after_a_password_change(
    app: Flask, client: FlaskClient, people: SimpleNamespace
) -> None:
    login(client, people.alice)
    stolen = client.get_cookie("session")
    assert stolen is not None
    assert _change(client, PASSWORD, NEW_PASSWORD).status_code == 303
    replay = app.test_client()
    replay.set_cookie("session", stolen.value)
    assert replay.get("/profile").status_code == 302
    assert client.get("/profile").status_code == 200


def test_wrong_current_password_is_refused_beside_the_field_and_counted(
    app: Flask, client: FlaskClient, people: SimpleNamespace
) -> None:
    login(client, people.alice)
    before = _password_hash(app, people.alice_id)
    resp = _change(client, "not my password", NEW_PASSWORD)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert re.search(
        r'id="current_password"[^>]*>\s*<p class="error" role="alert"'
        r' id="current_password-error-0">That is not your current password.</p>',
        html,
    ), html
    assert _password_hash(app, people.alice_id) == before
    assert _failures(app, people.alice) == 1
    for _ in range(app.config["LOGIN_MAX_FAILURES"] - 1):
        assert _change(client, "not my password", NEW_PASSWORD).status_code == 422
    # Out of guesses: even the right password waits, here and at the sign-in form.
    blocked = _change(client, PASSWORD, NEW_PASSWORD)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "Too many wrong passwords" in blocked.get_data(as_text=True)
    assert login(app.test_client(), people.alice).status_code == 429
    assert _password_hash(app, people.alice_id) == before
    with app.app_context():
        assert (
            db.session.execute(
                sa.select(AuditEvent).where(AuditEvent.action == "user.password_changed")
            ).first()
            is None
        )


@pytest.mark.parametrize(
    ("new", "repeat", "message"),
    [
        (" " * 10, None, "Use more than spaces"),
        ("\t \u00a0" * 4, None, "Use more than spaces"),
        ("", None, "Enter a password."),
        ("short", None, "Use at least 10 characters."),
        ("x" * 201, None, "Use at most 200 characters."),
        ("two\nline passphrase", None, "Use no line breaks"),
        (NEW_PASSWORD, "something else", "The two passwords differ."),
        (PASSWORD, None, "different from your current one"),
    ],
)
def test_new_password_follows_the_password_rule(
    app: Flask,
    client: FlaskClient,
    people: SimpleNamespace,
    new: str,
    repeat: str | None,
    message: str,
) -> None:
    login(client, people.alice)
    before = _password_hash(app, people.alice_id)
    resp = _change(client, PASSWORD, new, repeat)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and message in html and 'aria-invalid="true"' in html
    assert _password_hash(app, people.alice_id) == before
    assert _failures(app, people.alice) == 0
    assert client.get("/profile").status_code == 200


def test_password_change_needs_csrf_and_a_signed_in_user(
    app: Flask, client: FlaskClient, people: SimpleNamespace
) -> None:
    data = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    }
    token = csrf_from(client.get("/login").get_data(as_text=True))
    anonymous = client.post("/profile/password", data={**data, "csrf_token": token})
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    login(client, people.alice)
    before = _password_hash(app, people.alice_id)
    assert client.post("/profile/password", data=data).status_code == 400
    assert _password_hash(app, people.alice_id) == before


def test_new_password_with_outer_spaces_signs_in_exactly_as_typed(
    app: Flask, client: FlaskClient, people: SimpleNamespace
) -> None:
    padded = "  padded passphrase  "
    login(client, people.alice)
    assert _change(client, PASSWORD, padded).status_code == 303
    assert login(app.test_client(), people.alice, padded).status_code == 302
    assert login(app.test_client(), people.alice, padded.strip()).status_code == 401
