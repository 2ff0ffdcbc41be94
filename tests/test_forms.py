"""Every HTML form refuses NUL characters beside the field, on both databases alike."""

import html
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from flask_wtf import FlaskForm

from models import Partner, TicketEvent
from models.db import db
from tests.escalation.test_ticket_page import _setup
from tests.factories import login, make_user, post_form
from web.forms import NUL_MESSAGE, Form, _holds_nul


def _sign_in(app: Flask, client: FlaskClient, role: str) -> None:
    with app.app_context():
        user = make_user(role)
        db.session.commit()
        email = user.email
    login(client, email)


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_form_of_the_app_refuses_nul(app: Flask) -> None:
    """A form built on FlaskForm directly would skip the NUL check."""
    forms = {f for f in _subclasses(FlaskForm) if f.__module__.split(".")[0] != "tests"}
    assert len(forms) > 20
    direct = sorted(f"{f.__module__}.{f.__name__}" for f in forms if not issubclass(f, Form))
    assert direct == []


@pytest.mark.parametrize(
    ("value", "holds"),
    [("plain", False), ("a\x00b", True), (["x", "y\x00"], True), (["x"], False), (7, False)],
)
def test_nul_is_found_in_text_and_in_lists_of_choices(value: Any, holds: bool) -> None:
    assert _holds_nul(value) is holds


def _events(app: Flask, ticket_id: int) -> int:
    with app.app_context():
        return db.session.execute(
            sa.select(sa.func.count())
            .select_from(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_id)
        ).scalar_one()


def test_a_comment_with_nul_is_refused_beside_the_field(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    url = f"/tickets/{s['ticket']}"
    before = _events(app, s["ticket"])
    login(client, s["l1"])
    resp = post_form(client, url, {"body": "Looks\x00 fine to me"}, action=f"{url}/comments")
    assert resp.status_code == 422
    assert html.escape(NUL_MESSAGE) in resp.get_data(as_text=True)
    assert _events(app, s["ticket"]) == before


def test_an_admin_form_with_nul_is_refused_and_writes_nothing(
    app: Flask, client: FlaskClient
) -> None:
    _sign_in(app, client, "admin")
    resp = post_form(
        client,
        "/admin/partners/new",
        {"name": "Null\x00 Partners", "points": "10"},
    )
    assert resp.status_code == 422
    assert html.escape(NUL_MESSAGE) in resp.get_data(as_text=True)
    with app.app_context():
        names = db.session.execute(sa.select(Partner.name)).scalars().all()
        assert not any("Null" in n for n in names)


def test_the_library_s_messages_read_in_the_product_s_words() -> None:
    from web.form_wording import WORDING

    assert WORDING.gettext("This field is required.") == "Fill in this field."
    assert WORDING.ngettext(
        "Field cannot be longer than %(max)d character.",
        "Field cannot be longer than %(max)d characters.",
        300,
    ) == ("Use at most %(max)d characters.")
    # A message the table does not know passes through unchanged.
    assert WORDING.gettext("Something new.") == "Something new."


def test_an_address_without_an_at_sign_is_explained_with_e_mail(
    app: Flask, client: FlaskClient
) -> None:
    _sign_in(app, client, "admin")
    resp = post_form(
        client,
        "/admin/users/new",
        {"email": "not-an-address", "role": "admin", "password": "long enough pass"},
    )
    assert resp.status_code == 422
    body = html.unescape(resp.get_data(as_text=True))
    assert "e-mail address" in body and "An email address" not in body


def test_a_value_that_cannot_be_read_gets_one_message(app: Flask, client: FlaskClient) -> None:
    from tests.conflict.test_registration_form import VALID, field_block, submit

    _sign_in(app, client, "partner")
    resp = submit(client, {**VALID, "pc_count": "12.5"})
    assert resp.status_code == 422
    block = field_block(resp.get_data(as_text=True), "pc_count")
    assert block.count('class="error"') == 1 and "Enter a whole number." in block
