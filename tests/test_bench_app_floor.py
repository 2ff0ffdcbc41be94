"""The http benchmark's app-floor endpoint: the app's own API stack around one INSERT."""

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask

from bench import app_floor, bare_app
from models import ApiToken
from models.db import db
from tests.dbutil import separate_app
from tests.factories import make_api_token, make_user


@pytest.fixture()
def floor_app(app: Flask, database_url: str) -> Iterator[Flask]:
    """Build the floor app on the run's database, with the baseline's table made and dropped."""
    bare_app.create_table(database_url)
    with separate_app(app_floor.create_app, {**app.config, "RATELIMIT_ENABLED": True}) as floor:
        yield floor
        with floor.app_context():
            bare_app.rows.drop(db.engine)


def _bearer(app: Flask, *, active: bool = True) -> dict[str, str]:
    with app.app_context():
        _, token = make_api_token(make_user("partner", is_active=active))
        db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_floor_stores_one_row_behind_the_api_token_check(app: Flask, floor_app: Flask) -> None:
    client = floor_app.test_client()
    body = {"customer_name": "Contoso Ltd", "pc_count": 5000}

    assert client.post(app_floor.PATH, json=body).status_code == 401
    disabled = _bearer(app, active=False)
    assert client.post(app_floor.PATH, json=body, headers=disabled).status_code == 401
    headers = _bearer(app)
    assert client.post(app_floor.PATH, data="[1]", headers=headers).status_code == 400

    resp = client.post(app_floor.PATH, json=body, headers=headers)

    assert resp.status_code == 201
    # The app's own hooks ran: its security headers and the API limiter's headers are there.
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-RateLimit-Limit" in resp.headers
    with floor_app.app_context():
        stored = db.session.execute(sa.select(bare_app.rows)).all()
        last_used = db.session.execute(sa.select(ApiToken.last_used_at)).scalars().all()
    assert [(r.id, r.customer_name, r.body) for r in stored] == [
        (resp.get_json()["id"], "Contoso Ltd", body)
    ]
    assert any(t is not None for t in last_used)
