"""Sign-in, sign-out, throttling, role checks, CSRF and partner isolation."""

import pytest
from flask import Flask
from flask.testing import FlaskClient

from models import User
from models.db import db
from tests.factories import (
    PASSWORD,
    csrf_from,
    login,
    make_registration,
    make_ticket,
    make_user,
)
from web.passwords import password_problem


@pytest.mark.parametrize(
    ("role", "home"),
    [
        ("partner", "/registrations"),
        ("mcs", "/registrations"),
        ("reviewer", "/queue"),
        ("admin", "/dashboard"),
    ],
)
def test_each_role_lands_on_its_home(app: Flask, client: FlaskClient, role: str, home: str) -> None:
    with app.app_context():
        email = make_user(role).email
        db.session.commit()
    resp = login(client, email)
    assert resp.status_code == 302 and resp.headers["Location"] == home
    assert client.get(home).status_code == 200


def test_wrong_password_and_unknown_user_look_the_same(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    wrong = login(client, email, "not the password")
    unknown = login(client, "nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert b"do not match" in wrong.data and b"do not match" in unknown.data


def test_login_is_throttled_after_repeated_failures(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert login(client, email, "wrong password!").status_code == 401
    blocked = login(client, email)  # even the right password waits
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    window = app.config["LOGIN_WINDOW_SECONDS"]
    assert f"Try again in {window // 60} minutes." in blocked.get_data(as_text=True)


def test_a_page_behind_sign_in_says_so_in_the_product_s_words(client: FlaskClient) -> None:
    resp = client.get("/registrations", follow_redirects=True)
    assert "Sign in to see this page." in resp.get_data(as_text=True)


def test_login_requires_csrf(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    resp = client.post("/login", data={"email": email, "password": PASSWORD})
    assert resp.status_code == 400


def test_open_redirect_refused(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    page = client.get("/login?next=https://evil.example.com/")
    token = csrf_from(page.get_data(as_text=True))
    resp = client.post(
        "/login?next=https://evil.example.com/",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
    )
    assert resp.headers["Location"] == "/dashboard"


def test_session_cookie_flags(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    resp = login(client, email)
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_logout_revokes_a_copied_cookie(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    login(client, email)
    stolen = client.get_cookie("session")
    assert stolen is not None
    page = client.get("/dashboard")
    client.post("/logout", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    replay = app.test_client()
    replay.set_cookie("session", stolen.value)
    assert replay.get("/dashboard").status_code == 302  # back to sign-in


def test_disabling_a_user_ends_their_session(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        user = make_user("admin")
        email, uid = user.email, user.id
        db.session.commit()
    login(client, email)
    assert client.get("/dashboard").status_code == 200
    with app.app_context():
        u = db.session.get(User, uid)
        assert u is not None
        u.is_active = False
        db.session.commit()
    assert client.get("/dashboard").status_code == 302


def test_anonymous_is_sent_to_login(client: FlaskClient) -> None:
    resp = client.get("/registrations")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


@pytest.mark.parametrize(
    ("role", "path", "status"),
    [
        ("partner", "/queue", 404),
        ("partner", "/dashboard", 404),
        ("partner", "/admin/", 404),
        ("mcs", "/queue", 403),
        ("mcs", "/admin/users", 403),
        ("reviewer", "/admin/policy", 403),
        ("reviewer", "/registrations/new", 403),
        ("admin", "/admin/users", 200),
        ("admin", "/admin/partners", 200),
        ("admin", "/admin/policy", 200),
    ],
)
def test_role_checks(app: Flask, client: FlaskClient, role: str, path: str, status: int) -> None:
    with app.app_context():
        email = make_user(role).email
        db.session.commit()
    login(client, email)
    assert client.get(path).status_code == status


def test_partner_sees_only_their_own_registration_and_ticket(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        mine_user, other_user = make_user("partner"), make_user("partner")
        mine = make_registration(mine_user, customer_name="Mine Corp")
        theirs = make_registration(other_user, customer_name="Theirs Corp")
        my_ticket = make_ticket(mine)
        their_ticket = make_ticket(theirs)
        ids = (mine.id, theirs.id, my_ticket.id, their_ticket.id)
        email = mine_user.email
        db.session.commit()
    login(client, email)
    assert client.get(f"/registrations/{ids[0]}").status_code == 200
    assert client.get(f"/registrations/{ids[1]}").status_code == 404
    assert client.get(f"/tickets/{ids[2]}").status_code == 200
    assert client.get(f"/tickets/{ids[3]}").status_code == 404
    listing = client.get("/registrations").get_data(as_text=True)
    assert "Mine Corp" in listing and "Theirs Corp" not in listing


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        (" " * 10, False),
        ("\t" * 10, False),
        ("\u00a0" * 12, False),
        ("\u3000" * 10, False),
        ("line\nbreak passphrase", False),
        ("  padded passphrase  ", True),
        ("inner spaces only", True),
        ("tab\tinside passphrase", True),
        ("ünïcödé pässwörd", True),
    ],
)
def test_every_password_the_rule_accepts_signs_in_exactly_as_typed(
    app: Flask, client: FlaskClient, password: str, accepted: bool
) -> None:
    """The password rule and the sign-in form agree: no accepted password is unusable."""
    assert (password_problem(password) is None) is accepted
    if not accepted:
        return
    with app.app_context():
        email = make_user("admin", password=password).email
        db.session.commit()
    assert login(client, email, password).status_code == 302
    if password != password.strip():
        assert login(app.test_client(), email, password.strip()).status_code == 401


def test_spaces_alone_are_an_empty_password_at_sign_in(app: Flask, client: FlaskClient) -> None:
    """Why the rule refuses them: the sign-in form never checks such a password at all."""
    with app.app_context():
        email = make_user("admin", password=" " * 10).email
        db.session.commit()
    resp = login(client, email, " " * 10)
    assert resp.status_code == 422 and "Fill in this field." in resp.get_data(as_text=True)
    assert password_problem(" " * 10) is not None
