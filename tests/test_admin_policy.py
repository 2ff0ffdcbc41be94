"""The policy page: a new version from the form, its checks, its history, who may save it."""

import re
import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from escalation.service import sla_env
from models import AuditEvent, PolicyData, PolicyVersion, Registration
from models.db import db, write_intent
from models.policy import (
    PolicyConflict,
    PolicyError,
    PolicyUnchanged,
    active_policy,
    create_policy_version,
    policy_changes,
)
from tests.factories import (
    csrf_from,
    login,
    make_api_token,
    make_district,
    make_list,
    make_user,
    post_form,
)
from web.policy_history import describe_changes
from web.policy_input import check_policy_input, check_timezone, parse_clock, parse_holidays

URL = "/admin/policy"
DEFAULTS = PolicyData()


def form_data(**over: Any) -> dict[str, Any]:
    """Return the policy form as a browser would post it with the default values."""
    cal = DEFAULTS.calendar
    data: dict[str, Any] = {
        "base_version": "1",
        "pc_threshold": "4000",
        "fuzzy_match_score": "92",
        "fuzzy_review_score": "85",
        "high_impact_value": "250000",
        "sla_hours_1": "16",
        "sla_hours_2": "16",
        "sla_hours_3": "24",
        "exception_sla_hours_1": "8",
        "exception_sla_hours_2": "8",
        "exception_sla_hours_3": "16",
        "sla_warning_hours": "4",
        "registration_lifetime_days": "90",
        "reminder_lead_days": "14",
        "extension_days": "30",
        "review_period_months": "6",
        "timezone": cal.timezone,
        "day_start": cal.day_start,
        "day_end": cal.day_end,
        "workdays": [str(d) for d in cal.workdays],
        "holidays": "\n".join(cal.holidays),
        "note": "Tuning after the quarterly review",
    }
    data.update(over)
    return data


def typed_input(**over: Any) -> dict[str, Any]:
    """Return the form's typed values (what the fields hand to the check) for the defaults."""
    cal = DEFAULTS.calendar
    raw: dict[str, Any] = {
        "pc_threshold": 4000,
        "fuzzy_match_score": 92.0,
        "fuzzy_review_score": 85.0,
        "high_impact_value": 250_000,
        "sla_hours_1": 16.0,
        "sla_hours_2": 16.0,
        "sla_hours_3": 24.0,
        "exception_sla_hours_1": 8.0,
        "exception_sla_hours_2": 8.0,
        "exception_sla_hours_3": 16.0,
        "sla_warning_hours": 4.0,
        "registration_lifetime_days": 90,
        "reminder_lead_days": 14,
        "extension_days": 30,
        "review_period_months": 6,
        "auto_publish_synced_lists": False,
        "timezone": cal.timezone,
        "day_start": cal.day_start,
        "day_end": cal.day_end,
        "workdays": list(cal.workdays),
        "holidays": "\n".join(cal.holidays),
        "note": "why",
    }
    raw.update(over)
    return raw


def versions(app: Flask) -> list[PolicyVersion]:
    with app.app_context():
        rows = db.session.execute(sa.select(PolicyVersion).order_by(PolicyVersion.version))
        result = list(rows.scalars())
        db.session.expunge_all()
        return result


def audit_events(app: Flask) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "policy.created")
        ).scalars()
        result = list(rows)
        db.session.expunge_all()
        return result


def field_block(html: str, field_id: str) -> str:
    """Return the markup of one field: from its wrapper to where the next field begins."""
    at = html.index(f'id="{field_id}"')
    start = max(html.rfind('<div class="field', 0, at), html.rfind("<fieldset", 0, at))
    marks = ('<div class="field', "</fieldset>", "</form>")
    ends = [i for i in (html.find(mark, at) for mark in marks) if i != -1]
    return html[start : min(ends)]


@pytest.fixture()
def people(app: Flask) -> SimpleNamespace:
    with app.app_context():
        make_district("northeast", "east")
        make_user("reviewer", districts=["northeast"])
        make_list([{"name": "Caterpillar Inc.", "domain": "caterpillar.com"}])
        admin = make_user("admin", name="Ada Admin")
        mcs = make_user("mcs")
        ns = SimpleNamespace(
            admin=admin.email,
            admin_id=admin.id,
            mcs=mcs.email,
            mcs_token=make_api_token(mcs)[1],
            partner=make_user("partner").email,
            reviewer=make_user("reviewer").email,
        )
        active_policy(db.session)  # version 1, the defaults, as on a new database
        db.session.commit()
        return ns


@pytest.fixture()
def admin_client(client: FlaskClient, people: SimpleNamespace) -> FlaskClient:
    login(client, people.admin)
    return client


# --- saving through the page -------------------------------------------------------------


def test_the_form_starts_from_the_active_values(admin_client: FlaskClient) -> None:
    resp = admin_client.get(URL)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert re.search(r'id="pc_threshold"[^>]*value="4000"', html)
    assert re.search(r'id="sla_hours_3"[^>]*value="24"', html)
    assert re.search(r'id="timezone"[^>]*value="America/New_York"', html)
    assert re.search(r'<input checked id="workdays-0"', html)
    assert not re.search(r'<input checked id="workdays-6"', html)
    assert "2026-12-25" in field_block(html, "holidays")
    assert '<label for="fuzzy_review_score">' in html
    assert "applies from now on" in html and "not judged again" in html
    assert "more than 4,000 PCs" in html and "$250,000" in html


def test_admin_saves_a_new_version(
    app: Flask, admin_client: FlaskClient, people: SimpleNamespace
) -> None:
    holidays = [*DEFAULTS.calendar.holidays, "2026-12-31"]
    resp = post_form(
        admin_client,
        URL,
        form_data(pc_threshold="5000", sla_hours_1="20", holidays="\n".join(holidays)),
    )
    assert resp.status_code == 303 and resp.headers["Location"] == URL

    rows = versions(app)
    assert [(v.version, v.active) for v in rows] == [(1, False), (2, True)]
    new = rows[1]
    assert new.values.pc_threshold == 5000 and new.values.sla_hours["1"] == 20
    assert "2026-12-31" in new.values.calendar.holidays
    assert new.note == "Tuning after the quarterly review" and new.created_by_id == people.admin_id
    with app.app_context():
        active = db.session.execute(
            sa.select(sa.func.count()).where(PolicyVersion.active.is_(True))
        ).scalar_one()
        assert active == 1

    (event,) = audit_events(app)
    assert event.actor_id == people.admin_id and event.object_type == "policy_version"
    assert event.object_id == str(new.id) and event.data["version"] == 2
    assert event.data["changed"] == {
        "pc_threshold": [4000, 5000],
        "sla_hours.1": [16.0, 20.0],
        "calendar.holidays": [DEFAULTS.calendar.holidays, sorted(holidays)],
    }

    page = admin_client.get(URL).get_data(as_text=True)
    assert "Saved policy version 2" in page
    assert "Policy (version 2)" in page and "more than 5,000 PCs" in page
    assert re.search(r'id="pc_threshold"[^>]*value="5000"', page)
    history = page[page.index('id="history-h"') :]
    v2 = history[history.index('id="version-2"') : history.index('id="version-1"')]
    assert "Ada Admin" in v2 and "Tuning after the quarterly review" in v2
    assert "PC threshold</dt>" in v2 and "4,000 PCs &rarr; 5,000 PCs" in v2
    assert "Conflict SLA, level 1</dt>" in v2 and "16 business hours &rarr; 20 business hours" in v2
    assert "added 2026-12-31" in v2
    assert "Fuzzy match score" not in v2  # unchanged values are not listed
    assert "set up from the defaults" in history[history.index('id="version-1"') :]


def test_a_registration_after_the_change_is_judged_under_the_new_version(
    app: Flask, admin_client: FlaskClient, people: SimpleNamespace
) -> None:
    body = {"customer_name": "Wayne Enterprises", "pc_count": 4500, "workloads": ["exchange"]}
    headers = {"Authorization": f"Bearer {people.mcs_token}"}
    before = admin_client.post("/api/v1/registrations", json=body, headers=headers).get_json()
    assert before["status"] == "approved"  # 4,500 is more than 4,000

    assert post_form(admin_client, URL, form_data(pc_threshold="5000")).status_code == 303
    new_id = versions(app)[1].id

    later = {**body, "customer_name": "Stark Industries"}
    after = admin_client.post("/api/v1/registrations", json=later, headers=headers).get_json()
    assert after["status"] == "rejected" and after["policy_version_id"] == new_id
    assert after["findings"][0]["rule"] == "MCS_SIZE_THRESHOLD"
    assert "5,000-PC threshold" in after["findings"][0]["message"]
    with app.app_context():
        earlier = db.session.get(Registration, before["id"])
        assert earlier is not None
        # The earlier decision keeps the version it was judged under.
        assert (
            earlier.status == "approved"
            and earlier.policy_version_id == before["policy_version_id"] != new_id
        )


INVALID = [
    pytest.param(
        {"fuzzy_review_score": "95"},
        "fuzzy_review_score",
        ["must not be above the match score (92)"],
        id="review-above-match",
    ),
    pytest.param(
        {"timezone": "Mars/Olympus_Mons"},
        "timezone",
        ["“Mars/Olympus_Mons” is not a time-zone name"],
        id="bad-timezone",
    ),
    pytest.param(
        {"holidays": "2026-01-01\n2026-13-01\n\nnext friday"},
        "holidays",
        ["Line 2: “2026-13-01” is not a date", "Line 4: “next friday” is not a date"],
        id="bad-holiday-lines",
    ),
    pytest.param(
        {"reminder_lead_days": "90"},
        "reminder_lead_days",
        ["fewer days than the lifetime (90)"],
        id="reminder-not-before-expiry",
    ),
    pytest.param({"workdays": []}, "workdays", ["Choose at least one working day."], id="no-days"),
    pytest.param({"note": "   "}, "note", ["Say why the policy changes"], id="missing-note"),
    pytest.param({"note": "x" * 501}, "note", ["Keep the note to 500 characters"], id="long-note"),
    pytest.param(
        {"day_start": "17:00", "day_end": "09:00"},
        "day_end",
        ["must end after it starts (17:00)"],
        id="day-ends-before-start",
    ),
    pytest.param({"day_start": "9am"}, "day_start", ["Enter a time as HH:MM"], id="bad-clock"),
    pytest.param(
        {"pc_threshold": "lots"}, "pc_threshold", ["Enter a whole number"], id="not-a-number"
    ),
    pytest.param(
        {"pc_threshold": "-1"}, "pc_threshold", ["from 0 to 10,000,000"], id="negative-threshold"
    ),
    pytest.param({"sla_hours_2": "0"}, "sla_hours_2", ["above 0"], id="zero-sla"),
    pytest.param({"sla_hours_2": "nan"}, "sla_hours_2", ["Enter a number"], id="nan-sla"),
    pytest.param(
        {"exception_sla_hours_3": ""}, "exception_sla_hours_3", ["Enter a number"], id="empty"
    ),
    pytest.param(
        {"fuzzy_match_score": "101"}, "fuzzy_match_score", ["from 0 to 100"], id="score-over-100"
    ),
    pytest.param(
        {"registration_lifetime_days": "0"},
        "registration_lifetime_days",
        ["from 1 to 3,650"],
        id="zero-lifetime",
    ),
    pytest.param(
        {"workdays": ["7"]}, "workdays", ["is not one of the options offered"], id="no-such-day"
    ),
]


@pytest.mark.parametrize(("changes", "field_id", "messages"), INVALID)
def test_invalid_input_is_shown_on_its_field_and_nothing_is_saved(
    app: Flask,
    admin_client: FlaskClient,
    changes: dict[str, Any],
    field_id: str,
    messages: list[str],
) -> None:
    # One real change rides along, so only the bad value can be what stops the save.
    resp = post_form(admin_client, URL, form_data(**{"extension_days": "45", **changes}))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    block = field_block(html, field_id)
    for message in messages:
        assert message in block, block
    if field_id != "workdays":
        assert 'aria-invalid="true"' in block
    assert re.search(r'id="extension_days"[^>]*value="45"', html)  # what was typed stays
    assert [v.version for v in versions(app)] == [1]
    assert audit_events(app) == []


def test_the_page_keeps_every_typed_value_when_it_refuses(admin_client: FlaskClient) -> None:
    resp = post_form(
        admin_client,
        URL,
        form_data(timezone="Mars/Base", holidays="2026-02-30", note="a <b>bold</b> note"),
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert re.search(r'id="timezone"[^>]*value="Mars/Base"', html)
    assert "2026-02-30" in field_block(html, "holidays")
    assert "a &lt;b&gt;bold&lt;/b&gt; note" in html and "<b>bold</b>" not in html


def test_saving_with_nothing_changed_says_so_and_makes_no_version(
    app: Flask, admin_client: FlaskClient
) -> None:
    # The same days in another order and a repeated holiday are still the same policy.
    same = form_data(
        workdays=["4", "3", "2", "1", "0"],
        holidays="\n".join(reversed(DEFAULTS.calendar.holidays)) + "\n2026-01-01\n",
    )
    resp = post_form(admin_client, URL, same)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "Nothing changed: these are the values of version 1" in html
    assert [v.version for v in versions(app)] == [1]
    assert audit_events(app) == []


def test_a_save_based_on_an_older_version_is_refused(
    app: Flask, admin_client: FlaskClient, people: SimpleNamespace
) -> None:
    page = admin_client.get(URL).get_data(as_text=True)
    token = csrf_from(page)
    # Another admin saves version 2 while this form, made from version 1, is open.
    with app.app_context():
        create_policy_version(
            db.session,
            DEFAULTS.model_copy(update={"extension_days": 45}),
            note="other admin",
            actor_id=people.admin_id,
        )
        db.session.commit()
    resp = admin_client.post(URL, data={**form_data(pc_threshold="5000"), "csrf_token": token})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409
    assert "Version 2 was saved while you were editing version 1" in html
    assert re.search(r'id="pc_threshold"[^>]*value="5000"', html)
    assert re.search(r'id="base_version"[^>]*value="2"', html)
    assert [(v.version, v.active) for v in versions(app)] == [(1, False), (2, True)]
    assert versions(app)[1].values.pc_threshold == 4000


# --- who may save ------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), [("partner", 404), ("reviewer", 403), ("mcs", 403)])
def test_other_roles_cannot_save(
    app: Flask, client: FlaskClient, people: SimpleNamespace, role: str, status: int
) -> None:
    login(client, getattr(people, role))
    resp = post_form(client, "/profile", form_data(pc_threshold="1"), action=URL)
    assert resp.status_code == status
    assert [v.version for v in versions(app)] == [1]


def test_anonymous_save_goes_to_sign_in(
    app: Flask, client: FlaskClient, people: SimpleNamespace
) -> None:
    resp = post_form(client, "/login", form_data(pc_threshold="1"), action=URL)
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]
    assert [v.version for v in versions(app)] == [1]


def test_a_save_without_the_sessions_csrf_token_is_refused(
    app: Flask, admin_client: FlaskClient
) -> None:
    assert admin_client.post(URL, data=form_data(pc_threshold="1")).status_code == 400
    foreign = csrf_from(app.test_client().get("/login").get_data(as_text=True))
    resp = admin_client.post(URL, data={**form_data(pc_threshold="1"), "csrf_token": foreign})
    assert resp.status_code == 400
    assert [v.version for v in versions(app)] == [1]


# --- the service -------------------------------------------------------------------------


def test_the_new_version_is_active_for_the_rest_of_the_transaction(
    ctx: Flask, people: SimpleNamespace
) -> None:
    old = active_policy(db.session)
    assert sla_env(db.session).sla.hours_for(1, "conflict") == 16
    new_values = DEFAULTS.model_copy(update={"sla_hours": {"1": 10, "2": 16, "3": 24}})
    row = create_policy_version(db.session, new_values, note="faster", actor_id=people.admin_id)
    assert active_policy(db.session) is row and row.version == old.version + 1
    assert not old.active
    assert sla_env(db.session).sla.hours_for(1, "conflict") == 10
    db.session.commit()
    assert active_policy(db.session).id == row.id


def test_the_service_refuses_no_change_a_missing_note_and_a_stale_base(
    ctx: Flask, people: SimpleNamespace
) -> None:
    with pytest.raises(PolicyUnchanged, match="Nothing changed"):
        create_policy_version(db.session, PolicyData(), note="again", actor_id=people.admin_id)
    changed = PolicyData(pc_threshold=3000)
    with pytest.raises(PolicyError, match="Say why"):
        create_policy_version(db.session, changed, note="  ", actor_id=people.admin_id)
    with pytest.raises(PolicyConflict, match="Version 1 was saved"):
        create_policy_version(db.session, changed, note="n", actor_id=None, based_on=7)
    assert issubclass(PolicyUnchanged, ValueError) and issubclass(PolicyConflict, ValueError)
    db.session.rollback()
    assert [v.version for v in db.session.execute(sa.select(PolicyVersion)).scalars()] == [1]


def test_the_service_makes_version_one_on_a_new_database(ctx: Flask) -> None:
    admin = make_user("admin")
    row = create_policy_version(db.session, PolicyData(pc_threshold=1), note="n", actor_id=admin.id)
    db.session.commit()
    rows = db.session.execute(sa.select(PolicyVersion).order_by(PolicyVersion.version)).scalars()
    assert [(v.version, v.active) for v in rows] == [(1, False), (2, True)]
    assert row.version == 2


def test_two_admins_saving_at_once_make_one_version_and_one_clear_refusal(
    app: Flask, people: SimpleNamespace
) -> None:
    """The second save waits for the first, then sees it was overtaken instead of undoing it."""
    outcome: dict[str, Any] = {}
    first_holds_lock = threading.Event()

    def save(name: str, values: PolicyData, hold: bool) -> None:
        with app.app_context(), write_intent():
            try:
                create_policy_version(
                    db.session, values, note=name, actor_id=people.admin_id, based_on=1
                )
                if hold:
                    first_holds_lock.set()
                    time.sleep(0.5)  # the other save starts and must wait for this one
                db.session.commit()
                outcome[name] = "saved"
            except PolicyConflict as exc:
                db.session.rollback()
                outcome[name] = str(exc)
            finally:
                first_holds_lock.set()
                db.session.remove()

    first = threading.Thread(target=save, args=("first", PolicyData(pc_threshold=5000), True))
    second = threading.Thread(target=save, args=("second", PolicyData(extension_days=60), False))
    first.start()
    assert first_holds_lock.wait(10)
    second.start()
    first.join(30)
    second.join(30)
    assert outcome["first"] == "saved"
    assert "Version 2 was saved while you were editing version 1" in outcome["second"]
    rows = versions(app)
    assert [(v.version, v.active) for v in rows] == [(1, False), (2, True)]
    assert rows[1].values.pc_threshold == 5000 and rows[1].values.extension_days == 30


def test_policy_changes_lists_only_what_differs() -> None:
    old = PolicyData()
    new = old.model_copy(
        update={
            "pc_threshold": 5000,
            "exception_sla_hours": {"1": 8, "2": 12, "3": 16},
            "calendar": old.calendar.model_copy(
                update={"timezone": "Europe/Berlin", "workdays": [4, 3, 2, 1, 0]}
            ),
        }
    )
    changed = policy_changes(old, new)
    assert changed == {
        "pc_threshold": [4000, 5000],
        "exception_sla_hours.2": [8.0, 12.0],
        "calendar.timezone": ["America/New_York", "Europe/Berlin"],
    }
    assert list(changed) == ["pc_threshold", "exception_sla_hours.2", "calendar.timezone"]
    assert policy_changes(old, old) == {}
    lines = describe_changes(
        {
            "high_impact_value": [250_000, 300_000],
            "calendar.workdays": [[0, 1, 2, 3, 4], [0, 1, 2, 3]],
            "calendar.holidays": [["2026-01-01"], ["2026-12-31"]],
        }
    )
    assert [(c.label, c.old, c.new, c.detail) for c in lines] == [
        ("High-impact .NET value", "$250,000", "$300,000", ""),
        ("Working days", "Mon, Tue, Wed, Thu, Fri", "Mon, Tue, Wed, Thu", ""),
        ("Holidays", "1 date", "1 date", "added 2026-12-31; removed 2026-01-01"),
    ]


# --- the check, without a request ----------------------------------------------------------


def test_the_check_accepts_the_defaults_and_normalises_the_calendar() -> None:
    checked, errors = check_policy_input(
        typed_input(
            workdays=[4, 0, 2], holidays=" 2026-12-25 \n\n2026-01-01\n2026-12-25", day_start="8:30"
        )
    )
    assert errors == {} and checked is not None
    assert checked.note == "why"
    cal = checked.values.calendar
    assert cal.workdays == [0, 2, 4] and cal.holidays == ["2026-01-01", "2026-12-25"]
    assert cal.day_start == "08:30"
    assert checked.values.sla_hours == {"1": 16.0, "2": 16.0, "3": 24.0}


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"fuzzy_review_score": 92.5}, "fuzzy_review_score", "not be above the match score"),
        ({"reminder_lead_days": 90}, "reminder_lead_days", "fewer days than the lifetime"),
        ({"reminder_lead_days": 89}, None, None),
        ({"fuzzy_review_score": 92.0}, None, None),
        ({"timezone": "Europe/Atlantis"}, "timezone", "not a time-zone name"),
        ({"timezone": "localtime"}, "timezone", "not a time-zone name"),
        ({"workdays": []}, "workdays", "at least one working day"),
        ({"day_end": "09:00"}, "day_end", "must end after it starts"),
        ({"day_end": "24:00"}, "day_end", "HH:MM"),
        ({"sla_hours_1": 0.0}, "sla_hours_1", "above 0"),
        ({"sla_hours_1": float("inf")}, "sla_hours_1", "above 0"),
        ({"sla_warning_hours": 0.0}, None, None),
        ({"pc_threshold": 4000.5}, "pc_threshold", "whole number"),
        ({"pc_threshold": True}, "pc_threshold", "whole number"),
        ({"high_impact_value": None}, "high_impact_value", "whole number"),
        ({"registration_lifetime_days": 100_000}, "registration_lifetime_days", "1 to 3,650"),
        ({"note": ""}, "note", "Say why"),
    ],
)
def test_the_check_reports_each_problem_on_its_field(
    changes: dict[str, Any], field: str | None, fragment: str | None
) -> None:
    checked, errors = check_policy_input(typed_input(**changes))
    if field is None:
        assert errors == {} and checked is not None
    else:
        assert checked is None and list(errors) == [field]
        assert fragment is not None and fragment in " ".join(errors[field])


def test_the_check_reports_every_problem_at_once() -> None:
    _checked, errors = check_policy_input(
        typed_input(fuzzy_review_score=99.0, timezone="Nowhere", workdays=[], note="")
    )
    assert set(errors) == {"fuzzy_review_score", "timezone", "workdays", "note"}


def test_holiday_lines_are_reported_by_number() -> None:
    dates, errors = parse_holidays("2026-01-01\n\n2026-1-2\n20260103\n2026-02-29\n 2026-03-01 ")
    assert dates == ["2026-01-01", "2026-03-01"]
    assert [e.split(":")[0] for e in errors] == ["Line 3", "Line 4", "Line 5"]
    many = "\n".join(["bad"] * 25)
    _dates, errors = parse_holidays(many)
    assert len(errors) == 11 and errors[-1] == "… and 15 more lines that are not dates."


def test_clock_and_zone_helpers() -> None:
    assert parse_clock("9:05") == "09:05" and parse_clock(" 17:00 ") == "17:00"
    assert parse_clock("25:00") is None and parse_clock("9") is None and parse_clock("") is None
    assert check_timezone("Europe/Berlin") is None and check_timezone("UTC") is None
    assert check_timezone("") is not None and check_timezone("../../etc/passwd") is not None
