"""Handing a leaving reviewer's open tickets over: only to someone who can work each one."""

from html import unescape
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from models import AuditEvent, Ticket
from models.db import db
from tests.factories import (
    csrf_from,
    login,
    make_district,
    make_registration,
    make_ticket,
    make_user,
)


@pytest.fixture()
def leaving(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """A signed-in admin and a reviewer of two districts who owns one open ticket in each."""
    with app.app_context():
        make_district("northeast", "east", name="Northeast")
        make_district("southwest", "west", name="Southwest")
        admin = make_user("admin")
        person = make_user("reviewer", level=1, districts=["northeast", "southwest"])
        author = make_user("partner")
        ne = make_ticket(
            make_registration(author, district="northeast"),
            district="northeast",
            region="east",
            owner_id=person.id,
        )
        sw = make_ticket(
            make_registration(author, district="southwest"),
            district="southwest",
            region="west",
            owner_id=person.id,
        )
        ne_taker = make_user("reviewer", level=1, districts=["northeast"], name="Nora Northeast")
        mountain = make_district("mountain", "west", name="Mountain")
        elsewhere = make_user("reviewer", level=1, districts=[mountain.code], name="Mo Mountain")
        db.session.commit()
        ids = {
            "user": person.id,
            "ne": ne.id,
            "sw": sw.id,
            "ne_taker": ne_taker.id,
            "elsewhere": elsewhere.id,
        }
        email = admin.email
    login(client, email)
    return ids


def _owners(app: Flask) -> dict[int, int | None]:
    with app.app_context():
        return dict(db.session.execute(sa.select(Ticket.id, Ticket.owner_id)).all())


def _handed_over(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(AuditEvent).where(AuditEvent.action == "user.tickets_handed_over")
            ).scalars()
        )


def _post(client: FlaskClient, uid: int, assignee: str) -> Any:
    page = client.get(f"/admin/users/{uid}").get_data(as_text=True)
    return client.post(
        f"/admin/users/{uid}/tickets",
        data={"assignee": assignee, "csrf_token": csrf_from(page)},
        follow_redirects=True,
    )


def test_the_choices_offer_only_staff_who_could_take_some_of_the_tickets(
    app: Flask, client: FlaskClient, leaving: dict[str, Any]
) -> None:
    page = client.get(f"/admin/users/{leaving['user']}").get_data(as_text=True)
    assert f'value="{leaving["ne_taker"]}"' in page
    assert f'value="{leaving["elsewhere"]}"' not in page


def test_only_the_tickets_the_taker_covers_move_and_the_rest_are_named(
    app: Flask, client: FlaskClient, leaving: dict[str, Any]
) -> None:
    resp = _post(client, leaving["user"], str(leaving["ne_taker"]))
    html = unescape(resp.get_data(as_text=True))
    assert "Handed 1 open ticket(s)" in html
    assert "1 ticket(s) stay with" in html and f"(#{leaving['sw']})" in html
    assert "Nora Northeast does not cover their district at their level" in html
    owners = _owners(app)
    assert owners[leaving["ne"]] == leaving["ne_taker"]
    assert owners[leaving["sw"]] == leaving["user"]
    [event] = _handed_over(app)
    assert event.data["ticket_ids"] == [leaving["ne"]]
    assert event.data["left_ticket_ids"] == [leaving["sw"]]


def test_a_taker_who_covers_none_of_the_tickets_is_refused_and_nothing_moves(
    app: Flask, client: FlaskClient, leaving: dict[str, Any]
) -> None:
    resp = _post(client, leaving["user"], str(leaving["elsewhere"]))
    html = unescape(resp.get_data(as_text=True))
    assert "flash-error" in html and "Mo Mountain covers none of these tickets" in html
    owners = _owners(app)
    assert owners[leaving["ne"]] == owners[leaving["sw"]] == leaving["user"]
    assert _handed_over(app) == []


@pytest.mark.parametrize("assignee", ["", "not-a-number"])
def test_no_choice_is_answered_with_the_field_message(
    app: Flask, client: FlaskClient, leaving: dict[str, Any], assignee: str
) -> None:
    page = client.get(f"/admin/users/{leaving['user']}").get_data(as_text=True)
    resp = client.post(
        f"/admin/users/{leaving['user']}/tickets",
        data={"assignee": assignee, "csrf_token": csrf_from(page)},
    )
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith(f"/admin/users/{leaving['user']}")
    after = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Choose who takes the tickets over." in after and "flash-error" in after
    assert _handed_over(app) == []


def test_a_hand_over_without_its_csrf_token_is_still_refused(
    app: Flask, client: FlaskClient, leaving: dict[str, Any]
) -> None:
    resp = client.post(
        f"/admin/users/{leaving['user']}/tickets", data={"assignee": str(leaving["ne_taker"])}
    )
    assert resp.status_code == 400
    assert _handed_over(app) == []
