"""The served app answers a browser: sign-in page, a11y check, and a sign-in that lands home."""

from typing import Any

from flask import Flask

from models.db import db
from tests.e2e.conftest import LiveServer, axe_violations, sign_in
from tests.factories import PASSWORD, make_user


def test_login_page_is_accessible_and_signs_in(
    live_server: LiveServer, page: Any, app: Flask
) -> None:
    with app.app_context():
        email = make_user("admin").email
        db.session.commit()
    page.goto(f"{live_server.url}/login")
    assert page.title() == "Sign in · ChannelGuard"
    assert axe_violations(page) == []
    sign_in(page, live_server.url, email, PASSWORD)
    assert page.url.endswith("/dashboard")
