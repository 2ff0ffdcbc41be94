"""Behind a load balancer (TRUSTED_PROXY_HOPS): each client counted on its own, HTTPS seen as
HTTPS; without it, forwarded headers are ignored so no client can claim another address."""

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from models.db import db
from tests.dbutil import separate_app
from tests.factories import login, make_user
from web.auth import ADDRESS_LIMIT_FACTOR


@pytest.fixture()
def proxied(app: Flask) -> Iterator[Flask]:
    """Build the app as deployed behind one proxy, on the run's database."""
    from app import create_app

    with separate_app(create_app, {**app.config, "TRUSTED_PROXY_HOPS": 1}) as behind:
        yield behind


def _client_at(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = address
    return client


def _fail_from_one_address(
    app: Flask, client: FlaskClient, forged: list[str] | None = None
) -> None:
    """Fail as many sign-ins as the per-address limit allows, each for a different account."""
    attempts = app.config["LOGIN_MAX_FAILURES"] * ADDRESS_LIMIT_FACTOR
    with app.app_context():
        emails = [make_user("partner").email for _ in range(attempts)]
        db.session.commit()
    for k, email in enumerate(emails):
        if forged:
            client.environ_base["HTTP_X_FORWARDED_FOR"] = forged[k % len(forged)]
        assert login(client, email, "wrong password!").status_code == 401


def test_hsts_when_the_proxy_says_https(app: Flask, proxied: Flask) -> None:
    headers = {"X-Forwarded-Proto": "https"}
    behind = proxied.test_client().get("/login", headers=headers)
    assert "max-age=" in behind.headers.get("Strict-Transport-Security", "")
    # Not trusted without the setting: a client saying https over http gets no HSTS.
    direct = app.test_client().get("/login", headers=headers)
    assert "Strict-Transport-Security" not in direct.headers


def test_throttling_counts_clients_behind_the_proxy_apart(proxied: Flask) -> None:
    attacker = _client_at(proxied, "203.0.113.5")
    _fail_from_one_address(proxied, attacker)
    with proxied.app_context():
        email = make_user("partner").email
        db.session.commit()

    assert login(attacker, email).status_code == 429
    # Another client comes through the same proxy and signs in.
    assert login(_client_at(proxied, "198.51.100.7"), email).status_code == 302


def test_forged_forwarded_addresses_do_not_dodge_throttling(app: Flask) -> None:
    client = app.test_client()
    _fail_from_one_address(app, client, forged=[f"192.0.2.{k}" for k in range(1, 50)])
    with app.app_context():
        email = make_user("partner").email
        db.session.commit()

    client.environ_base["HTTP_X_FORWARDED_FOR"] = "192.0.2.200"
    assert login(client, email).status_code == 429


def test_negative_hops_refused(app: Flask) -> None:
    from app import create_app

    with pytest.raises(RuntimeError, match="TRUSTED_PROXY_HOPS"):
        create_app({**app.config, "TRUSTED_PROXY_HOPS": -1})
