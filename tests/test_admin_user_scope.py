"""A reviewer's districts and region must fit their level; a field that does not is refused."""

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from models import AuditEvent, User
from models.db import db
from tests.factories import login, make_district, make_user, post_form

PASSWORD = "a long first password"


@pytest.fixture()
def admin(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """Sign an admin in, with districts in two regions."""
    with app.app_context():
        make_district("northeast", "east", name="Northeast")
        make_district("pacific", "west", name="Pacific")
        me = make_user("admin")
        db.session.commit()
        email = me.email
    login(client, email)
    return {"email": email}


def _count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one())


MISFITS = [
    ({"level": "3", "region": "east"}, "Only a level-2 reviewer covers a region"),
    ({"level": "3", "districts": ["northeast"]}, "covers every district; choose none"),
    ({"level": "1", "districts": ["northeast"], "region": "east"}, "Only a level-2 reviewer"),
]


@pytest.mark.parametrize(("fields", "message"), MISFITS)
def test_a_new_reviewer_with_a_field_their_level_does_not_use_is_refused(
    app: Flask, client: FlaskClient, admin: dict[str, Any], fields: dict[str, Any], message: str
) -> None:
    before = _count(app)
    body = {"email": "misfit@example.com", "role": "reviewer", "password": PASSWORD, **fields}
    resp = post_form(client, "/admin/users/new", body)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422, html
    assert message in html and 'role="alert"' in html
    assert _count(app) == before
    with app.app_context():
        created = db.session.execute(
            sa.select(AuditEvent.id).where(AuditEvent.action == "user.created")
        ).first()
        assert created is None


def test_editing_a_reviewer_into_a_misfit_is_refused_and_nothing_changes(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    with app.app_context():
        person = make_user("reviewer", level=3, districts=[], email="nat@example.com")
        db.session.commit()
        uid = person.id
    body = {"email": "nat@example.com", "role": "reviewer", "level": "3", "region": "east"}
    resp = post_form(client, f"/admin/users/{uid}", body)
    assert resp.status_code == 422
    assert "Only a level-2 reviewer covers a region" in resp.get_data(as_text=True)
    with app.app_context():
        user = db.session.get(User, uid)
        assert user is not None and user.region is None and user.level == 3


def test_a_level_two_reviewer_keeps_a_region_and_districts(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    body = {
        "email": "lead@example.com",
        "role": "reviewer",
        "level": "2",
        "region": "east",
        "districts": ["pacific"],
        "password": PASSWORD,
    }
    assert post_form(client, "/admin/users/new", body).status_code == 303
    with app.app_context():
        user = db.session.execute(
            sa.select(User).where(User.email == "lead@example.com")
        ).scalar_one()
        assert (user.level, user.region, user.districts) == (2, "east", ["pacific"])


def test_the_users_create_command_refuses_the_same_misfit(app: Flask) -> None:
    with app.app_context():
        make_district("northeast", "east")
        db.session.commit()
    result = app.test_cli_runner().invoke(
        args=["users", "create", "--email", "r3@example.com", "--password", PASSWORD,
              "--role", "reviewer", "--level", "3", "--region", "east"]
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--region: Only a level-2 reviewer covers a region" in result.output
    assert _count(app) == 0
