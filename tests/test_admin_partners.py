"""Admins create and change partner organisations: stored, audited, validated, guarded, escaped."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import col

import conflict.partners as partner_service
from conflict.dpor import DporError, designate_dpor
from conflict.partners import PartnerData, PartnerError, create_partner
from escalation import service as escalation
from models import AuditEvent, Partner, User
from models.db import db
from models.db import session as db_session
from tests.escalation.test_service import make_finding
from tests.factories import (
    csrf_from,
    login,
    make_district,
    make_partner,
    make_registration,
    make_user,
    post_form,
)
from web.admin_partners import INACTIVE_MEANS

NEW = "/admin/partners/new"
LIST = "/admin/partners"


def edit_url(partner_id: int) -> str:
    return f"/admin/partners/{partner_id}/edit"


@pytest.fixture()
def world(app: Flask) -> SimpleNamespace:
    """An admin, two districts, reviewers (one disabled), a partner with a user, MCS."""
    with app.app_context():
        make_district("northeast", "east", name="North East Corridor")
        make_district("pacific", "west", name="Pacific Coast")
        admin = make_user("admin", name="Ada Admin")
        other_admin = make_user("admin", name="Other Admin")
        local = make_user("reviewer", name="Rita Local", districts=["northeast"])
        far = make_user("reviewer", name="Wes Far", level=2, districts=[], region="west")
        disabled = make_user("reviewer", name="Dora Disabled", is_active=False)
        fabrikam = make_partner("Fabrikam", points=100, district="northeast")
        fabrikam.competencies = ["security"]
        partner_user = make_user("partner", partner_id=fabrikam.id, name="Pat Partner")
        mcs = make_user("mcs")
        db.session.commit()
        return SimpleNamespace(
            admin=admin.email,
            admin_id=admin.id,
            other_admin_id=other_admin.id,
            local=local.id,
            far=far.id,
            far_name=far.name,
            disabled=disabled.id,
            fabrikam=fabrikam.id,
            partner_user=partner_user.id,
            partner_email=partner_user.email,
            reviewer_email=local.email,
            mcs_email=mcs.email,
        )


def form(**changes: Any) -> dict[str, Any]:
    """Return a complete, valid form submission with some fields changed."""
    data: dict[str, Any] = {
        "name": "Contoso Partners",
        "points": "130",
        "district": "northeast",
        "competencies": ["security", "licensing"],
        "technical_coordinator_id": "",
        "active": "y",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def audits(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.execute(
                sa.select(AuditEvent)
                .where(col(AuditEvent.action) == action)
                .order_by(col(AuditEvent.id))
            ).scalars()
        )


def partner_named(app: Flask, name: str) -> Partner | None:
    with app.app_context():
        return db.session.execute(
            sa.select(Partner).where(col(Partner.name) == name)
        ).scalar_one_or_none()


def partner_count(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Partner)).scalar_one()


def row_of(body: str, text: str) -> str:
    """Return the table row of a page that contains some text."""
    for row in re.findall(r"<tr>.*?</tr>", body, flags=re.S):
        if text in row:
            return str(row)
    raise AssertionError(f"no row contains {text!r}")


def selected(body: str, value: str) -> bool:
    """Return True when the option with this value is the selected one."""
    return re.search(rf'<option selected value="{re.escape(value)}">', body) is not None


def checked(body: str, name: str, value: str) -> bool:
    """Return True when the checkbox or box with this name and value is ticked."""
    for tag in re.findall(r"<input[^>]*>", body):
        if f'name="{name}"' in tag and f'value="{value}"' in tag:
            return "checked" in tag
    raise AssertionError(f"no input {name}={value}")


# --- creating ---------------------------------------------------------------------------------


def test_admin_creates_a_partner_with_every_field(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.admin)
    page = client.get(NEW)
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert checked(body, "active", "y"), "a new partner is active unless unticked"
    assert "120" in body and "Gold Certified" in body  # the tier thresholds are explained
    assert "Pacific Coast" in body and "Wes Far" in body
    assert "Pat Partner" not in body and "Dora Disabled" not in body

    resp = post_form(client, NEW, form(technical_coordinator_id=str(world.far)))
    assert resp.status_code == 303 and resp.headers["Location"].endswith(LIST)

    stored = partner_named(app, "Contoso Partners")
    assert stored is not None
    assert stored.points == 130 and stored.tier == "gold"
    assert stored.district == "northeast"
    assert stored.competencies == ["licensing", "security"]
    assert stored.technical_coordinator_id == world.far
    assert stored.active is True
    (event,) = audits(app, "partner.created")
    assert event.actor_id == world.admin_id and event.object_id == str(stored.id)
    assert event.data == {
        "name": "Contoso Partners",
        "points": 130,
        "district": "northeast",
        "competencies": ["licensing", "security"],
        "technical_coordinator_id": world.far,
        "active": True,
    }

    listing = client.get(LIST).get_data(as_text=True)
    row = row_of(listing, "Contoso Partners")
    assert "Gold Certified" in row and "130" in row and "North East Corridor" in row
    assert "Licensing, Security" in row and "Wes Far" in row and "<td>yes</td>" in row
    assert f'href="{edit_url(stored.id or 0)}"' in row
    assert f'href="{NEW}"' in listing


def test_unticked_active_creates_an_inactive_partner_without_extras(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.admin)
    data = form(name="Quiet Co", points="0", district="", competencies=None, active=None)
    assert post_form(client, NEW, data).status_code == 303
    stored = partner_named(app, "Quiet Co")
    assert stored is not None
    assert (stored.active, stored.district, stored.competencies) == (False, None, [])
    assert stored.technical_coordinator_id is None and stored.tier == "registered"
    assert "<td>no</td>" in row_of(client.get(LIST).get_data(as_text=True), "Quiet Co")


# --- editing ----------------------------------------------------------------------------------


def test_edit_form_is_prefilled(app: Flask, client: FlaskClient, world: SimpleNamespace) -> None:
    login(client, world.admin)
    body = client.get(edit_url(world.fabrikam)).get_data(as_text=True)
    assert 'value="Fabrikam"' in body and 'value="100"' in body
    assert selected(body, "northeast") and selected(body, "")  # district; no coordinator
    assert checked(body, "competencies", "security")
    assert not checked(body, "competencies", "mobility")
    assert checked(body, "active", "y")
    assert INACTIVE_MEANS in body.replace("&#39;", "'")


def test_edit_records_exactly_the_changed_fields(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.admin)
    url = edit_url(world.fabrikam)
    change = form(
        name="Fabrikam",
        points="125",
        district="pacific",
        competencies=["security", "mobility"],
        technical_coordinator_id=str(world.far),
    )
    resp = post_form(client, url, change)
    assert resp.status_code == 303 and resp.headers["Location"].endswith(LIST)
    with app.app_context():
        stored = db.session.get(Partner, world.fabrikam)
        assert stored is not None
        assert (stored.points, stored.tier, stored.district) == (125, "gold", "pacific")
        assert stored.competencies == ["mobility", "security"]
        assert stored.technical_coordinator_id == world.far
        assert stored.name == "Fabrikam" and stored.active is True
    (event,) = audits(app, "partner.updated")
    assert event.actor_id == world.admin_id and event.object_id == str(world.fabrikam)
    assert event.data == {
        "changed": {
            "points": [100, 125],
            "district": ["northeast", "pacific"],
            "competencies": [["security"], ["mobility", "security"]],
            "technical_coordinator_id": [None, world.far],
        }
    }
    body = client.get(url).get_data(as_text=True)
    assert 'value="125"' in body and selected(body, "pacific") and selected(body, str(world.far))
    assert checked(body, "competencies", "mobility")

    # The same values again change nothing and so record nothing.
    again = post_form(client, url, change)
    assert again.status_code == 303
    assert len(audits(app, "partner.updated")) == 1
    assert "Nothing about Fabrikam changed" in client.get(LIST).get_data(as_text=True)


def test_renaming_in_another_case_and_deactivating(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.admin)
    data = form(name="FabriKam", points="100", competencies=["security"], active=None)
    assert post_form(client, edit_url(world.fabrikam), data).status_code == 303
    (event,) = audits(app, "partner.updated")
    assert event.data == {"changed": {"name": ["Fabrikam", "FabriKam"], "active": [True, False]}}
    with app.app_context():
        # What the page says inactive means: no partner of record, no seat credits.
        admin = db.session.get(User, world.admin_id)
        assert admin is not None
        with pytest.raises(DporError, match="active partner"):
            designate_dpor(
                db_session(),
                user=admin,
                partner_id=world.fabrikam,
                workload="exchange",
                customer_name="Contoso",
            )


def test_a_disabled_coordinator_is_kept_until_someone_else_is_chosen(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    with app.app_context():
        partner = db.session.get(Partner, world.fabrikam)
        assert partner is not None
        partner.technical_coordinator_id = world.disabled
        db.session.commit()
    login(client, world.admin)
    url = edit_url(world.fabrikam)
    body = client.get(url).get_data(as_text=True)
    assert selected(body, str(world.disabled)) and "not an active reviewer" in body
    keep = form(
        name="Fabrikam",
        points="101",
        competencies=["security"],
        technical_coordinator_id=str(world.disabled),
    )
    assert post_form(client, url, keep).status_code == 303
    (event,) = audits(app, "partner.updated")
    assert event.data == {"changed": {"points": [100, 101]}}


@pytest.mark.parametrize(("points", "owner"), [("120", "far"), ("119", "local")])
def test_a_gold_partners_coordinator_owns_its_next_ticket(
    app: Flask, client: FlaskClient, world: SimpleNamespace, points: str, owner: str
) -> None:
    login(client, world.admin)
    data = form(
        name="Fabrikam",
        points=points,
        competencies=["security"],
        technical_coordinator_id=str(world.far),
    )
    assert post_form(client, edit_url(world.fabrikam), data).status_code == 303
    with app.app_context():
        user = db.session.get(User, world.partner_user)
        assert user is not None
        reg = make_registration(user, district="northeast")
        ticket = escalation.open_ticket(db_session(), registration=reg, finding=make_finding(reg))
        # At Gold the coordinator takes it; below Gold the district's own reviewer does.
        assert ticket.owner_id == getattr(world, owner)


# --- bad input --------------------------------------------------------------------------------

BAD_INPUT = [
    ("duplicate name", {"name": "Fabrikam"}, "already has this name"),
    ("duplicate name in another case", {"name": "  fABRIKAM "}, "already has this name"),
    ("empty name", {"name": "   "}, "Enter the partner"),
    ("name too long", {"name": "x" * 201}, "at most 200"),
    ("negative points", {"points": "-1"}, "0 to"),
    ("points not a number", {"points": "lots"}, "Enter a whole number"),
    ("unknown district", {"district": "atlantis"}, "Choose a district from the list"),
    ("unknown competency", {"competencies": ["security", "juggling"]}, "juggling"),
    ("coordinator not a number", {"technical_coordinator_id": "abc"}, "Choose a coordinator"),
    ("coordinator unknown", {"technical_coordinator_id": "99999999"}, "Choose a coordinator"),
]


@pytest.mark.parametrize(("case", "changes", "message"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_refused_with_a_message_and_nothing_written(
    app: Flask,
    client: FlaskClient,
    world: SimpleNamespace,
    case: str,
    changes: dict[str, Any],
    message: str,
) -> None:
    login(client, world.admin)
    before = partner_count(app)
    resp = post_form(client, NEW, form(**{"name": "Typed Co", **changes}))
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert message in body
    assert 'class="error" role="alert"' in body
    assert partner_count(app) == before and not audits(app, "partner.created")
    if "name" not in changes:
        assert 'value="Typed Co"' in body  # what was typed is kept


@pytest.mark.parametrize("who", ["partner_user", "disabled", "other_admin_id"])
def test_coordinator_must_be_an_active_reviewer(
    app: Flask, client: FlaskClient, world: SimpleNamespace, who: str
) -> None:
    login(client, world.admin)
    before = partner_count(app)
    resp = post_form(client, NEW, form(technical_coordinator_id=str(getattr(world, who))))
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert ("account is disabled" if who == "disabled" else "is not a reviewer") in body
    assert partner_count(app) == before and not audits(app, "partner.created")
    assert 'value="Contoso Partners"' in body and 'value="130"' in body
    assert checked(body, "competencies", "licensing")


def test_bad_edit_changes_nothing(app: Flask, client: FlaskClient, world: SimpleNamespace) -> None:
    with app.app_context():
        make_partner("Northwind")
        db.session.commit()
    login(client, world.admin)
    data = form(name="NORTHWIND", points="500", district="atlantis")
    resp = post_form(client, edit_url(world.fabrikam), data)
    body = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "already has this name" in body and "Choose a district from the list" in body
    assert 'value="500"' in body
    with app.app_context():
        stored = db.session.get(Partner, world.fabrikam)
        assert stored is not None
        assert (stored.name, stored.points, stored.district) == ("Fabrikam", 100, "northeast")
    assert not audits(app, "partner.updated")


def test_service_refuses_negative_points(app: Flask, world: SimpleNamespace) -> None:
    with app.app_context():
        with pytest.raises(PartnerError) as info:
            create_partner(db_session(), PartnerData(name="Minus Co", points=-5), actor_id=None)
        assert (info.value.field, info.value.message) == ("points", "Points cannot be negative.")
        assert isinstance(info.value, ValueError)


def test_a_concurrent_duplicate_name_becomes_the_name_message(
    app: Flask, world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When another admin's partner is saved between the check and the insert, the unique
    index refuses it, and the caller gets the same message as from the check."""
    real = partner_service._name_taken
    calls: list[str] = []

    def blind_first(*args: Any) -> bool:
        calls.append("check")
        return False if len(calls) == 1 else real(*args)

    monkeypatch.setattr(partner_service, "_name_taken", blind_first)
    with app.app_context():
        with pytest.raises(PartnerError) as info:
            create_partner(db_session(), PartnerData(name="Fabrikam", points=1), actor_id=None)
        assert info.value.field == "name" and "already has this name" in info.value.message
        # The savepoint kept the transaction usable.
        assert db.session.execute(sa.select(sa.func.count()).select_from(Partner)).scalar() == 1
        db.session.rollback()
    assert len(calls) == 2


# --- who may ----------------------------------------------------------------------------------


def test_unknown_partner_is_not_found(client: FlaskClient, world: SimpleNamespace) -> None:
    login(client, world.admin)
    assert client.get(edit_url(world.fabrikam + 1000)).status_code == 404
    token = csrf_from(client.get(NEW).get_data(as_text=True))
    resp = client.post(edit_url(world.fabrikam + 1000), data={**form(), "csrf_token": token})
    assert resp.status_code == 404


@pytest.mark.parametrize(
    ("role", "status"), [("partner_email", 404), ("reviewer_email", 403), ("mcs_email", 403)]
)
def test_only_admins_may_manage_partners(
    app: Flask, client: FlaskClient, world: SimpleNamespace, role: str, status: int
) -> None:
    login(client, getattr(world, role))
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    for url in (LIST, NEW, edit_url(world.fabrikam)):
        assert client.get(url).status_code == status, url
    for url in (NEW, edit_url(world.fabrikam)):
        resp = client.post(url, data={**form(name="Sneaky"), "csrf_token": token})
        assert resp.status_code == status, url
    assert partner_named(app, "Sneaky") is None
    assert not audits(app, "partner.created") and not audits(app, "partner.updated")


def test_anonymous_users_are_sent_to_sign_in(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    token = csrf_from(client.get("/login").get_data(as_text=True))
    for url in (LIST, NEW, edit_url(world.fabrikam)):
        resp = client.get(url)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url
    for url in (NEW, edit_url(world.fabrikam)):
        resp = client.post(url, data={**form(name="Sneaky"), "csrf_token": token})
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], url
    assert partner_named(app, "Sneaky") is None


@pytest.mark.parametrize("token", ["missing", "wrong"])
def test_posts_without_this_sessions_csrf_token_are_refused(
    app: Flask, client: FlaskClient, world: SimpleNamespace, token: str
) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True), "the test app must enforce CSRF"
    login(client, world.admin)
    extra = {"csrf_token": "not-the-token"} if token == "wrong" else {}
    assert client.post(NEW, data={**form(), **extra}).status_code == 400
    edit = form(name="Renamed", points="5")
    assert client.post(edit_url(world.fabrikam), data={**edit, **extra}).status_code == 400
    assert partner_named(app, "Contoso Partners") is None
    assert partner_named(app, "Renamed") is None
    assert not audits(app, "partner.created") and not audits(app, "partner.updated")


# --- the list and escaping --------------------------------------------------------------------


@contextmanager
def counted_queries(app: Flask) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def test_list_counts_users_and_names_coordinators_in_one_query(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.admin)
    with counted_queries(app) as few:
        client.get(LIST)
    with app.app_context():
        for i in range(4):
            p = make_partner(f"More {i}", points=130, technical_coordinator_id=world.local)
            for _ in range(i):
                make_user("partner", partner_id=p.id)
        db.session.commit()
    with counted_queries(app) as many:
        body = client.get(LIST).get_data(as_text=True)
    assert len(many) == len(few), "the list must not query once per partner"
    assert re.search(r"<td>3</td>", row_of(body, "More 3"))
    assert "<td>0</td>" in row_of(body, "More 0")
    assert "<td>1</td>" in row_of(body, ">Fabrikam<")  # its one user
    assert "Rita Local" in row_of(body, "More 2")


def test_html_in_a_name_is_shown_as_text(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.admin)
    assert post_form(client, NEW, form(name="<b>x</b>", points="60")).status_code == 303
    stored = partner_named(app, "<b>x</b>")
    assert stored is not None
    for url in (LIST, edit_url(stored.id or 0)):
        body = client.get(url).get_data(as_text=True)
        assert "<b>x</b>" not in body, url
        assert "&lt;b&gt;x&lt;/b&gt;" in body, url


def test_a_gold_partner_needs_a_technical_coordinator(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.admin)
    resp = post_form(client, NEW, form(name="Coordinator Missing", points="120"))
    assert resp.status_code == 422
    assert "needs a technical coordinator" in resp.get_data(as_text=True)
    assert partner_named(app, "Coordinator Missing") is None
    certified = post_form(client, NEW, form(name="Coordinator Missing", points="119"))
    assert certified.status_code == 303
    stored = partner_named(app, "Coordinator Missing")
    assert stored is not None
    # Rising to Gold asks for the coordinator too.
    promoted = post_form(client, edit_url(stored.id or 0), form(name="Coordinator Missing"))
    assert promoted.status_code == 422
    assert "needs a technical coordinator" in promoted.get_data(as_text=True)
