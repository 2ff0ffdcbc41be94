"""CSRF on every form route, session cookie flags and rotation, revocation, and login throttling
that holds across several worker processes."""

import threading
from collections import Counter
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from models import ApiToken, User, utcnow
from models.db import db
from tests.factories import PASSWORD, csrf_from, login, make_user
from tests.reliability.servers import gunicorn_server
from tests.security.access import ALLOWED
from tests.security.world import build_world, clone_client, page_token, row_counts, signed_in


def _form_posts(app: Flask) -> list[tuple[str, str]]:
    """Return (endpoint, rule) of every state-changing route outside the bearer-token API."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") or not {"POST"} & (rule.methods or set()):
            continue
        found.append((rule.endpoint, rule.rule))
    return sorted(found)


def _url(app: Flask, endpoint: str, values: dict[str, object]) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    args = {a: values[a] for a in rule.arguments}
    return app.url_map.bind("localhost").build(endpoint, args, method="POST")


@pytest.mark.parametrize("token", ["missing", "foreign"])
def test_every_form_post_needs_the_sessions_csrf_token(app: Flask, token: str) -> None:
    """Without this session's CSRF token every form route answers 400 and writes nothing."""
    from tests.security.access import params_for

    world = build_world(app)
    admin = signed_in(app, world.emails["admin"])
    other = signed_in(app, world.emails["partner"])
    partner = signed_in(app, world.emails["partner"])
    foreign_token = page_token(other)  # valid, but for another session
    own, _ = params_for(world, "admin")
    partner_own, _ = params_for(world, "partner")
    routes = _form_posts(app)
    assert len(routes) >= 20
    refused: list[str] = []
    for endpoint, _rule in routes:
        allowed = ALLOWED[endpoint]
        # Use a role that may really post here, so only CSRF stands in the way.
        if allowed is None:
            client, values = app.test_client(), own
        elif "admin" in allowed:
            client, values = clone_client(app, admin), own
        else:
            client, values = clone_client(app, partner), partner_own
        url = _url(app, endpoint, values)
        data = {"csrf_token": foreign_token} if token == "foreign" else {}
        before = row_counts(app)
        if endpoint == "conflict.precheck":
            headers = {"X-CSRFToken": foreign_token} if token == "foreign" else {}
            resp = client.post(url, json={"customer_name": "Anything"}, headers=headers)
        else:
            resp = client.post(url, data=data)
        if resp.status_code != 400:
            refused.append(f"POST {url}: {resp.status_code}")
        if row_counts(app) != before:
            refused.append(f"POST {url}: the database changed")
    assert not refused, "\n" + "\n".join(refused)


def test_login_form_without_token_is_refused(app: Flask, client: FlaskClient) -> None:
    """Even signing in needs the token, so a third-party page cannot sign a victim in."""
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    resp = client.post("/login", data={"email": email, "password": PASSWORD})
    assert resp.status_code == 400
    assert client.get("/dashboard").status_code == 302


def test_session_cookie_flags_over_http(app: Flask, client: FlaskClient) -> None:
    """The session cookie is HttpOnly and SameSite=Lax (and not Secure when told so)."""
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    cookies = login(client, email).headers.getlist("Set-Cookie")
    session = next(c for c in cookies if c.startswith("session="))
    assert "HttpOnly" in session
    assert "SameSite=Lax" in session
    assert "Secure" not in session


def test_session_cookie_is_secure_when_configured(app: Flask) -> None:
    """With SESSION_COOKIE_SECURE the cookie is only ever sent over HTTPS."""
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    saved = app.config["SESSION_COOKIE_SECURE"]
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        client = app.test_client()
        page = client.get("/login", base_url="https://localhost")
        token = csrf_from(page.get_data(as_text=True))
        # Over HTTPS the CSRF check also wants a same-origin Referer.
        resp = client.post(
            "/login",
            base_url="https://localhost",
            headers={"Referer": "https://localhost/login"},
            data={"email": email, "password": PASSWORD, "csrf_token": token},
        )
        assert resp.status_code == 302
        session = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session="))
        assert "Secure" in session and "HttpOnly" in session and "SameSite=Lax" in session
    finally:
        app.config["SESSION_COOKIE_SECURE"] = saved


def test_session_is_rotated_on_login(app: Flask, client: FlaskClient) -> None:
    """Signing in issues a new session cookie; the pre-login cookie does not become signed in."""
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    page = client.get("/login")
    before = client.get_cookie("session")
    assert before is not None  # the CSRF token lives in the anonymous session
    token = csrf_from(page.get_data(as_text=True))
    resp = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302
    after = client.get_cookie("session")
    assert after is not None and after.value != before.value
    planted = app.test_client()
    planted.set_cookie("session", before.value)
    assert planted.get("/dashboard").status_code == 302  # still anonymous
    # The old CSRF token is gone with the old session.
    assert page_token(client) != token


def test_cookie_replay_after_logout_is_refused(app: Flask) -> None:
    """A copied cookie is worthless once its user signs out, also on another client."""
    world = build_world(app)
    client = signed_in(app, world.emails["partner"])
    copy = clone_client(app, client)
    assert copy.get("/registrations").status_code == 200
    token = page_token(copy)  # a valid CSRF token of the copied session
    resp = client.post("/logout", data={"csrf_token": page_token(client)})
    assert resp.status_code == 302
    assert copy.get("/registrations").status_code == 302
    replay = copy.post("/profile/tokens", data={"name": "replayed", "csrf_token": token})
    assert replay.status_code == 302 and "/login" in replay.headers["Location"]
    with app.app_context():
        assert db.session.query(ApiToken).filter_by(name="replayed").count() == 0


def test_disabled_user_loses_session_and_tokens(app: Flask) -> None:
    """Disabling a user ends their browser sessions and refuses their bearer tokens."""
    world = build_world(app)
    client = signed_in(app, world.emails["partner"])
    auth = {"Authorization": f"Bearer {world.tokens['partner']}"}
    assert client.get("/registrations").status_code == 200
    assert client.get("/api/v1/registrations", headers=auth).status_code == 200
    with app.app_context():
        user = db.session.get(User, world.user_ids["partner"])
        assert user is not None
        user.is_active = False
        db.session.commit()
    assert client.get("/registrations").status_code == 302
    assert client.get("/api/v1/registrations", headers=auth).status_code == 401


def test_revoked_token_is_refused(app: Flask) -> None:
    """A revoked bearer token answers 401."""
    world = build_world(app)
    auth = {"Authorization": f"Bearer {world.tokens['admin']}"}
    assert app.test_client().get("/api/v1/tickets", headers=auth).status_code == 200
    with app.app_context():
        row = db.session.get(ApiToken, world.token_ids["admin"])
        assert row is not None
        row.revoked_at = utcnow()
        db.session.commit()
    resp = app.test_client().get("/api/v1/tickets", headers=auth)
    assert resp.status_code == 401
    assert resp.get_json()["error"]["code"] == "unauthorized"


@pytest.mark.slow
def test_login_throttle_holds_across_worker_processes(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    """Two gunicorn workers share one throttle: after LOGIN_MAX_FAILURES wrong passwords for an
    account, both refuse it (429), even the right password, however the attempts are spread."""
    limit = 5
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    env = {"LOGIN_MAX_FAILURES": str(limit), "LOGIN_WINDOW_SECONDS": "900"}
    with gunicorn_server(database_url, tmp_path, workers=2, env=env) as server:
        statuses: list[int] = []
        lock = threading.Lock()
        attempts_per_thread = 6

        def hammer() -> None:
            with requests.Session() as s:
                for _ in range(attempts_per_thread):
                    # A fresh connection each time lets the kernel hand it to either worker.
                    page = s.get(f"{server.url}/login", timeout=10, headers={"Connection": "close"})
                    token = csrf_from(page.text)
                    resp = s.post(
                        f"{server.url}/login",
                        data={"email": email, "password": "wrong password", "csrf_token": token},
                        headers={"Connection": "close"},
                        timeout=10,
                        allow_redirects=False,
                    )
                    with lock:
                        statuses.append(resp.status_code)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        with requests.Session() as s:
            token = csrf_from(s.get(f"{server.url}/login", timeout=10).text)
            right = s.post(
                f"{server.url}/login",
                data={"email": email, "password": PASSWORD, "csrf_token": token},
                timeout=10,
                allow_redirects=False,
            )
        served_by = server.pids_serving("POST", "/login")
    counts = Counter(statuses)
    assert len(statuses) == 4 * attempts_per_thread
    assert set(counts) <= {401, 429}, counts
    assert counts[401] == limit, f"{counts[401]} wrong passwords were checked, limit {limit}"
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0
    assert len(served_by) == 2, f"both workers should have served sign-ins: {served_by}"
