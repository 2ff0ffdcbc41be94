"""Admins manage accounts in the app: create, change role and scope, disable, set a password."""

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from models import AuditEvent, User, utcnow
from models.db import db
from tests.factories import (
    csrf_from,
    login,
    make_api_token,
    make_district,
    make_partner,
    make_registration,
    make_ticket,
    make_user,
    post_form,
)
from web.accounts import AccountData, AccountError, create_account, set_password


@pytest.fixture()
def admin(app: Flask, client: FlaskClient) -> dict[str, Any]:
    """Sign an admin in, with two districts in one region and a partner organisation."""
    with app.app_context():
        make_district("northeast", "east", name="Northeast")
        make_district("mid_atlantic", "east", name="Mid-Atlantic")
        org = make_partner("Fabrikam Services")
        me = make_user("admin")
        db.session.commit()
        ids = {"org": org.id, "me": me.id}
    login(client, me.email)
    return ids


def _user(app: Flask, email: str) -> User:
    with app.app_context():
        user = db.session.execute(sa.select(User).where(User.email == email)).scalar_one()
        db.session.expunge(user)
        return user


def _audit(app: Flask, action: str) -> list[AuditEvent]:
    with app.app_context():
        return list(
            db.session.execute(sa.select(AuditEvent).where(AuditEvent.action == action)).scalars()
        )


def test_admin_creates_a_reviewer_who_can_sign_in(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    data = {
        "email": "New.Reviewer@Example.com",
        "name": "Nia <Reviewer>",
        "role": "reviewer",
        "level": "1",
        "districts": ["northeast", "mid_atlantic"],
        "password": "a long first password",
    }
    resp = post_form(client, "/admin/users/new", data)
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/admin/users")
    user = _user(app, "new.reviewer@example.com")
    assert (user.role, user.level, sorted(user.districts)) == (
        "reviewer",
        1,
        ["mid_atlantic", "northeast"],
    )
    listing = client.get("/admin/users").get_data(as_text=True)
    assert "Nia &lt;Reviewer&gt;" in listing and "Mid-Atlantic, Northeast" in listing
    [event] = _audit(app, "user.created")
    assert event.actor_id == admin["me"] and event.object_id == str(user.id)
    fresh = app.test_client()
    assert login(fresh, "new.reviewer@example.com", "a long first password").status_code == 302
    assert fresh.get("/queue").status_code == 200


@pytest.mark.parametrize(
    ("data", "field_message"),
    [
        ({"role": "partner"}, "Choose the partner organisation"),
        ({"role": "reviewer"}, "Choose the reviewer&#39;s level"),
        ({"role": "reviewer", "level": "1"}, "works at least one district"),
        (
            {"role": "reviewer", "level": "1", "districts": ["atlantis"]},
            "Unknown district(s): atlantis",
        ),
        ({"role": "reviewer", "level": "2", "region": "moon"}, "No district is in that region"),
        ({"role": "mcs", "level": "3"}, "Only reviewers have a level"),
        ({"role": "mcs", "password": "short"}, "Use at least 10 characters"),
        ({"role": "mcs", "email": "not-an-address"}, "must have an @-sign"),
        ({"role": "mcs", "email": "TAKEN@example.com"}, "already uses this e-mail"),
    ],
)
def test_bad_input_is_refused_field_by_field(
    app: Flask, client: FlaskClient, admin: dict[str, Any], data: dict[str, Any], field_message: str
) -> None:
    with app.app_context():
        make_user("mcs", email="taken@example.com")
        db.session.commit()
        before = db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar()
    body = {"email": "someone@example.com", "password": "a long first password", **data}
    resp = post_form(client, "/admin/users/new", body)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422, html
    assert field_message in html and 'role="alert"' in html
    # What was typed stays in the form.
    assert f'value="{body["email"]}"' in html
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar() == before
    assert _audit(app, "user.created") == []


def test_changing_a_role_ends_the_old_sessions_and_is_audited(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    with app.app_context():
        person = make_user("partner", partner_id=admin["org"])
        db.session.commit()
        email, uid = person.email, person.id
    theirs = app.test_client()
    login(theirs, email)
    assert theirs.get("/registrations").status_code == 200
    data = {"email": email, "name": "Moved", "role": "mcs"}
    resp = post_form(client, f"/admin/users/{uid}", data)
    assert resp.status_code == 303
    user = _user(app, email)
    assert (user.role, user.partner_id, user.name) == ("mcs", None, "Moved")
    # The old cookie carried partner access; it no longer opens anything.
    assert theirs.get("/registrations").status_code == 302
    [event] = _audit(app, "user.updated")
    assert set(event.data["changed"]) == {"role", "partner_id", "name"}
    assert event.data["changed"]["role"] == ["partner", "mcs"]
    # Saving the same values again changes nothing and records nothing.
    again = post_form(client, f"/admin/users/{uid}", data, follow_redirects=True)
    assert "Nothing changed." in again.get_data(as_text=True)
    assert len(_audit(app, "user.updated")) == 1


def _reviewer_owning_a_ticket(org_id: int) -> User:
    """Make a Northeast reviewer who is working one ticket of the organisation's."""
    reviewer = make_user("reviewer", districts=["northeast"])
    author = make_user("partner", partner_id=org_id)
    make_ticket(make_registration(author), owner_id=reviewer.id, status="in_review")
    return reviewer


def test_disabling_signs_out_refuses_tokens_and_enabling_restores(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    with app.app_context():
        reviewer = _reviewer_owning_a_ticket(admin["org"])
        _, token = make_api_token(reviewer)
        db.session.commit()
        email, uid = reviewer.email, reviewer.id
    theirs = app.test_client()
    login(theirs, email)
    auth = {"Authorization": f"Bearer {token}"}
    assert app.test_client().get("/api/v1/tickets", headers=auth).status_code == 200
    page = client.get(f"/admin/users/{uid}").get_data(as_text=True)
    assert "<dt>Open tickets owned</dt><dd>1</dd>" in page
    resp = client.post(
        f"/admin/users/{uid}/active",
        data={"active": "0", "csrf_token": csrf_from(page)},
        follow_redirects=True,
    )
    assert "is disabled" in resp.get_data(as_text=True) and "1 open ticket" in resp.get_data(
        as_text=True
    )
    assert not _user(app, email).is_active
    assert theirs.get("/queue").status_code == 302
    assert app.test_client().get("/api/v1/tickets", headers=auth).status_code == 401
    assert login(app.test_client(), email).status_code != 302
    page = client.get(f"/admin/users/{uid}").get_data(as_text=True)
    client.post(f"/admin/users/{uid}/active", data={"active": "1", "csrf_token": csrf_from(page)})
    assert _user(app, email).is_active
    assert app.test_client().get("/api/v1/tickets", headers=auth).status_code == 200
    assert [len(_audit(app, a)) for a in ("user.disabled", "user.enabled")] == [1, 1]


def test_a_reviewer_with_open_tickets_keeps_a_staff_role_until_they_are_handed_on(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    with app.app_context():
        reviewer = _reviewer_owning_a_ticket(admin["org"])
        db.session.commit()
        email, uid = reviewer.email, reviewer.id
    to_mcs = post_form(client, f"/admin/users/{uid}", {"email": email, "role": "mcs"})
    assert to_mcs.status_code == 422
    assert "They own 1 open ticket(s); reassign them" in to_mcs.get_data(as_text=True)
    assert _user(app, email).role == "reviewer"
    # Another staff role is fine: admins work tickets too.
    to_admin = post_form(client, f"/admin/users/{uid}", {"email": email, "role": "admin"})
    assert to_admin.status_code == 303 and _user(app, email).role == "admin"


def test_an_admin_cannot_lock_themselves_out(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    me = admin["me"]
    page = client.get(f"/admin/users/{me}").get_data(as_text=True)
    assert "Disable account" not in page
    resp = client.post(
        f"/admin/users/{me}/active", data={"active": "0", "csrf_token": csrf_from(page)}
    )
    assert resp.status_code == 303
    mine = _user(app, _user_email(app, me))
    assert mine.is_active
    demote = post_form(
        client, f"/admin/users/{me}", {"email": mine.email, "role": "mcs", "name": ""}
    )
    assert demote.status_code == 422
    assert "cannot take the admin role from your own account" in demote.get_data(as_text=True)
    assert _user(app, mine.email).role == "admin"


def _user_email(app: Flask, uid: int) -> str:
    with app.app_context():
        user = db.session.get(User, uid)
        assert user is not None
        return user.email


def test_last_active_admin_cannot_be_disabled(app: Flask) -> None:
    with app.app_context():
        only = make_user("admin")
        other = make_user("admin", is_active=False)
        from web.accounts import set_active

        with pytest.raises(AccountError, match="at least one active admin"):
            set_active(db.session, only, False, actor=other)


def test_admin_sets_a_new_password_and_old_sessions_end(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    with app.app_context():
        person = make_user("mcs")
        db.session.commit()
        email, uid = person.email, person.id
    theirs = app.test_client()
    login(theirs, email)
    url = f"/admin/users/{uid}"
    short = post_form(
        client, url, {"password": "short", "confirm": "short"}, action=f"{url}/password"
    )
    assert short.status_code == 422 and "Use at least 10 characters" in short.get_data(as_text=True)
    differ = post_form(
        client, url, {"password": "a new long one", "confirm": "another"}, action=f"{url}/password"
    )
    assert differ.status_code == 422 and "The two passwords differ." in differ.get_data(
        as_text=True
    )
    assert theirs.get("/registrations").status_code == 200
    ok = post_form(
        client,
        url,
        {"password": "a new long one", "confirm": "a new long one"},
        action=f"{url}/password",
    )
    assert ok.status_code == 303
    assert theirs.get("/registrations").status_code == 302
    assert login(app.test_client(), email, "a new long one").status_code == 302
    [event] = _audit(app, "user.password_set")
    assert event.object_id == str(uid) and "password" not in (event.data or {})


def test_forms_need_csrf_and_unknown_accounts_answer_404(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    data = {"email": "x@example.com", "role": "mcs", "password": "a long first password"}
    assert client.post("/admin/users/new", data=data).status_code == 400
    assert (
        client.post(f"/admin/users/{admin['me']}/active", data={"active": "0"}).status_code == 400
    )
    assert client.get("/admin/users/999999").status_code == 404
    assert _audit(app, "user.created") == [] and _user(app, _user_email(app, admin["me"])).is_active


@pytest.mark.parametrize(("role", "status"), [("partner", 404), ("reviewer", 403), ("mcs", 403)])
def test_only_admins_manage_accounts(app: Flask, role: str, status: int) -> None:
    with app.app_context():
        user = make_user(role)
        target = make_user("mcs")
        db.session.commit()
        email, uid = user.email, target.id
    client = app.test_client()
    login(client, email)
    token = csrf_from(client.get("/profile").get_data(as_text=True))
    for url in ("/admin/users", "/admin/users/new", f"/admin/users/{uid}"):
        assert client.get(url).status_code == status, url
    posted = client.post(f"/admin/users/{uid}/active", data={"active": "0", "csrf_token": token})
    assert posted.status_code == status
    assert _user(app, _user_email(app, uid)).is_active


def test_service_normalises_and_drops_fields_the_role_does_not_use(app: Flask) -> None:
    with app.app_context():
        make_district("northeast", "east")
        actor = make_user("admin")
        user = create_account(
            db.session,
            AccountData(
                email="  Mixed.Case@Example.COM ",
                role="reviewer",
                level=2,
                region="east",
                password="a long first password",
            ),
            actor=actor,
        )
        assert (user.email, user.level, user.region, user.districts) == (
            "mixed.case@example.com",
            2,
            "east",
            [],
        )


def test_open_tickets_are_handed_over_to_one_reviewer(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    with app.app_context():
        leaving = _reviewer_owning_a_ticket(admin["org"])  # one ticket in review
        author = make_user("partner", partner_id=admin["org"])
        assigned = make_ticket(make_registration(author), owner_id=leaving.id, status="open")
        decided = make_ticket(
            make_registration(author),
            owner_id=leaving.id,
            status="decided",
            resolution="mcs_leads",
            rationale="Settled earlier.",
            decided_at=utcnow(),
        )
        taker = make_user("reviewer", districts=["northeast"], name="Taylor Taker")
        outsider = make_user("mcs")
        db.session.commit()
        uid, taker_id, outsider_id = leaving.id, taker.id, outsider.id
        assigned_id, decided_id = assigned.id, decided.id
    url = f"/admin/users/{uid}"
    page = client.get(url).get_data(as_text=True)
    assert "<dt>Open tickets owned</dt><dd>2</dd>" in page
    assert f"#{assigned_id}" in page and f"#{decided_id}" not in page
    # The choice offers active staff only, never the person leaving.
    assert f'value="{taker_id}"' in page and f'value="{outsider_id}"' not in page
    refused = client.post(
        f"{url}/tickets", data={"assignee": str(outsider_id), "csrf_token": csrf_from(page)}
    )
    assert refused.status_code == 303
    resp = client.post(
        f"{url}/tickets",
        data={"assignee": str(taker_id), "csrf_token": csrf_from(page)},
        follow_redirects=True,
    )
    assert "Handed 2 open ticket(s)" in resp.get_data(as_text=True)
    with app.app_context():
        from models import OutboxMessage, Ticket

        owners = dict(db.session.execute(sa.select(Ticket.id, Ticket.owner_id)).all())
        statuses = dict(db.session.execute(sa.select(Ticket.id, Ticket.status)).all())
        assert owners[decided_id] == uid and statuses[decided_id] == "decided"
        moved = [tid for tid, owner in owners.items() if owner == taker_id]
        assert len(moved) == 2 and all(statuses[t] == "open" for t in moved)
        # Each ticket went through its own assignment: an audit event and an e-mail apiece.
        assigned_events = db.session.execute(
            sa.select(sa.func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "ticket.assigned")
        ).scalar()
        mails = db.session.execute(
            sa.select(sa.func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.event == "ticket.assigned")
        ).scalar()
        assert assigned_events == 2 and mails == 2
    [event] = _audit(app, "user.tickets_handed_over")
    assert event.data["to_user_id"] == taker_id and sorted(event.data["ticket_ids"]) == sorted(
        moved
    )


def test_tickets_cannot_be_handed_to_their_owner_or_without_a_choice(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    with app.app_context():
        leaving = _reviewer_owning_a_ticket(admin["org"])
        db.session.commit()
        uid = leaving.id
    page = client.get(f"/admin/users/{uid}").get_data(as_text=True)
    for choice in (str(uid), "0"):
        resp = client.post(
            f"/admin/users/{uid}/tickets",
            data={"assignee": choice, "csrf_token": csrf_from(page)},
            follow_redirects=True,
        )
        assert "flash-error" in resp.get_data(as_text=True)
    assert _audit(app, "ticket.assigned") == []


SPACES = " " * 10


def test_admin_cannot_create_an_account_whose_password_is_only_spaces(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    data = {"email": "blank@example.com", "role": "mcs", "password": SPACES}
    resp = post_form(client, "/admin/users/new", data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "Use more than spaces" in html and 'role="alert"' in html
    with app.app_context():
        found = db.session.execute(sa.select(User).where(User.email == "blank@example.com"))
        assert found.first() is None
    assert _audit(app, "user.created") == []


def test_a_password_of_only_spaces_is_never_set(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    with app.app_context():
        person = make_user("mcs")
        db.session.commit()
        email, uid, before = person.email, person.id, person.password_hash
    theirs = app.test_client()
    login(theirs, email)
    url = f"/admin/users/{uid}"
    resp = post_form(client, url, {"password": SPACES, "confirm": SPACES}, action=f"{url}/password")
    assert resp.status_code == 422 and 'role="alert"' in resp.get_data(as_text=True)
    # The service refuses it too, whichever form or command calls it.
    with app.app_context():
        user, actor = db.session.get(User, uid), db.session.get(User, admin["me"])
        assert user is not None and actor is not None
        with pytest.raises(AccountError) as refused:
            set_password(db.session, user, "\u00a0" * 12, actor=actor)
        assert "Use more than spaces" in refused.value.errors["password"]
        db.session.rollback()
    assert _user(app, email).password_hash == before
    assert theirs.get("/registrations").status_code == 200
    assert _audit(app, "user.password_set") == []


def test_an_account_created_with_outer_spaces_signs_in_with_them(
    app: Flask, client: FlaskClient, admin: dict[str, Any]
) -> None:
    padded = "  first passphrase  "
    data = {"email": "padded@example.com", "role": "mcs", "password": padded}
    assert post_form(client, "/admin/users/new", data).status_code == 303
    assert login(app.test_client(), "padded@example.com", padded).status_code == 302
    assert login(app.test_client(), "padded@example.com", padded.strip()).status_code == 401


@pytest.mark.parametrize(
    ("password", "message"),
    [(SPACES, "Use more than spaces"), ("two\nline passphrase", "Use no line breaks")],
)
def test_users_create_refuses_a_password_the_sign_in_form_cannot_take(
    app: Flask, password: str, message: str
) -> None:
    args = ["users", "create", "--email", "cli@example.com", "--role", "mcs"]
    result = app.test_cli_runner().invoke(args=[*args, "--password", password])
    assert result.exit_code == 2 and f"--password: {message}" in result.output, result.output
    with app.app_context():
        found = db.session.execute(sa.select(User).where(User.email == "cli@example.com"))
        assert found.first() is None
