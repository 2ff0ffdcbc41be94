"""The reviewer queue: scope by role, filters, counts, keyset pages, claim and bulk actions."""

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient

from escalation.queries import Cursor, QueueFilters, queue_page
from models import Ticket, User, utcnow
from models.db import db
from tests.factories import (
    csrf_from,
    login,
    make_district,
    make_registration,
    make_ticket,
    make_user,
)


@pytest.fixture(autouse=True)
def _a_working_tuesday() -> Any:
    # "Due soon" counts business hours left: on a Friday evening a ticket due on Sunday has none
    # left and would count as due soon, so the figures below hold on a working day.
    with time_machine.travel(datetime(2026, 12, 1, 10, 0, tzinfo=UTC), tick=True):
        yield


def _setup(app: Flask) -> dict[str, Any]:
    """Tickets in three districts over two regions, and reviewers at each level."""
    with app.app_context():
        make_district("northeast", "east", name="New England & Upstate")
        make_district("midatlantic", "east")
        make_district("pacific", "west")
        author = make_user("partner")
        reg = make_registration(author)
        now = utcnow()
        ids: dict[str, int] = {}
        specs = [
            ("ne_overdue", "northeast", "conflict", "NAMED_ACCOUNT", 1, now - timedelta(hours=2)),
            ("ne_soon", "northeast", "exception", "DOTNET_EXCEPTION", 1, now + timedelta(hours=1)),
            ("ne_later", "northeast", "conflict", "MCS_OVERLAP", 2, now + timedelta(days=5)),
            ("ma", "midatlantic", "conflict", "PARTNER_OVERLAP", 1, now + timedelta(days=2)),
            ("pac", "pacific", "conflict", "NAMED_ACCOUNT_2", 1, now + timedelta(days=3)),
        ]
        for name, district, ttype, rule, level, due in specs:
            region = "west" if district == "pacific" else "east"
            t = make_ticket(
                reg,
                district=district,
                region=region,
                type=ttype,
                rule=rule,
                level=level,
                sla_due_at=due,
            )
            ids[name] = t.id
        decided = make_ticket(
            reg,
            rule="DONE",
            status="decided",
            resolution="rejected",
            rationale="x" * 12,
            decided_at=now,
        )
        ids["decided"] = decided.id
        users = {
            "l1": make_user("reviewer", level=1, districts=["northeast"]).email,
            "l2": make_user("reviewer", level=2, districts=[], region="east").email,
            "l3": make_user("reviewer", level=3, districts=[]).email,
            "admin": make_user("admin").email,
            "partner": author.email,
            "mcs": make_user("mcs").email,
        }
        db.session.commit()
    return {"ids": ids, "users": users}


def _ticket_ids(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'name="ticket_ids" value="(\d+)"', html)]


def _listed(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'<td><a href="/tickets/(\d+)">\d+</a></td>', html)]


def test_partner_never_reaches_the_queue(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    login(client, s["users"]["partner"])
    assert client.get("/queue").status_code == 404
    assert client.post("/queue", data={}).status_code in (400, 404)


def test_mcs_is_refused(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    login(client, s["users"]["mcs"])
    assert client.get("/queue").status_code == 403


def test_level_one_sees_only_their_districts(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    login(client, s["users"]["l1"])
    html = client.get("/queue").get_data(as_text=True)
    ids = s["ids"]
    assert _listed(html) == [ids["ne_overdue"], ids["ne_soon"], ids["ne_later"]]
    # Districts are shown by name, escaped, not by their codes.
    assert "Your districts: New England &amp; Upstate" in html
    assert "<td>New England &amp; Upstate</td>" in html and "<td>northeast</td>" not in html
    # The level-2 ticket is shown read-only: no checkbox and no claim button for it.
    assert ids["ne_later"] not in _ticket_ids(html)
    # Asking for another district shows nothing rather than leaking it.
    other = client.get("/queue?district=pacific").get_data(as_text=True)
    assert _listed(other) == []


def test_level_two_sees_the_region_and_level_three_everything(
    app: Flask, client: FlaskClient
) -> None:
    s = _setup(app)
    ids = s["ids"]
    login(client, s["users"]["l2"])
    html = client.get("/queue").get_data(as_text=True)
    assert set(_listed(html)) == {ids["ne_overdue"], ids["ne_soon"], ids["ne_later"], ids["ma"]}
    client.post("/logout", data={"csrf_token": csrf_from(html)})
    login(client, s["users"]["l3"])
    html = client.get("/queue").get_data(as_text=True)
    assert "All districts" in html
    # Sorted by SLA due time; decided tickets never appear.
    assert _listed(html) == [
        ids["ne_overdue"],
        ids["ne_soon"],
        ids["ma"],
        ids["pac"],
        ids["ne_later"],
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=exception", ["ne_soon"]),
        ("rule=PARTNER_OVERLAP", ["ma"]),
        ("district=pacific", ["pac"]),
        ("level=2", ["ne_later"]),
        ("overdue=1", ["ne_overdue"]),
        ("due_soon=1", ["ne_soon"]),
        ("owner=unassigned", ["ne_overdue", "ne_soon", "ma", "pac", "ne_later"]),
        ("owner=me", []),
        ("status=in_review", []),
        ("district=northeast&type=conflict", ["ne_overdue", "ne_later"]),
    ],
)
def test_filters(app: Flask, client: FlaskClient, query: str, expected: list[str]) -> None:
    s = _setup(app)
    login(client, s["users"]["admin"])
    html = client.get(f"/queue?{query}").get_data(as_text=True)
    assert _listed(html) == [s["ids"][name] for name in expected]


def test_counts_per_filter_value(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    login(client, s["users"]["admin"])
    html = client.get("/queue").get_data(as_text=True)
    assert '<option value="northeast">New England &amp; Upstate (3)</option>' in html
    assert ">Conflict (4)</option>" in html and ">Exception (1)</option>" in html
    assert "Overdue (1)" in html and "Due soon (1)" in html
    assert "5 open · 1 overdue · 1 due soon" in html


def test_owner_me_includes_tickets_outside_the_territory(app: Flask) -> None:
    s = _setup(app)
    with app.app_context():
        me = db.session.execute(sa.select(User).where(User.email == s["users"]["l1"])).scalar_one()
        db.session.get(Ticket, s["ids"]["pac"]).owner_id = me.id
        db.session.commit()
        page = queue_page(db.session, me, QueueFilters(owner="me"), utcnow())
        assert [r.ticket.id for r in page.rows] == [s["ids"]["pac"]]
        assert page.rows[0].workable
        assert page.counts["totals"]["me"] == 1


def test_keyset_pagination_across_pages(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        make_district("northeast", "east")
        reg = make_registration(make_user("partner"))
        base = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
        expected = []
        # Shared due times force the id tie-break; a few tickets have no due time at all.
        for i in range(115):
            due = None if i % 23 == 0 else base + timedelta(minutes=i // 3)
            t = make_ticket(reg, rule=f"R{i}", sla_due_at=due)
            expected.append((due is None, due or base, t.id))
        email = make_user("admin").email
        db.session.commit()
    order = [tid for *_, tid in sorted(expected)]
    login(client, email)
    seen: list[int] = []
    url: str | None = "/queue"
    pages = 0
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += _listed(html)
        pages += 1
        m = re.search(r'<a href="([^"]+)" rel="next">', html)
        url = m.group(1).replace("&amp;", "&") if m else None
    assert pages == 3
    assert seen == order


def test_keyset_respects_filters_and_small_pages(app: Flask) -> None:
    with app.app_context():
        make_district("northeast", "east")
        make_district("pacific", "west")
        reg = make_registration(make_user("partner"))
        base = utcnow()
        made = []
        for i in range(9):
            made.append(
                make_ticket(
                    reg,
                    rule=f"R{i}",
                    district="pacific" if i % 2 else "northeast",
                    sla_due_at=None if i >= 7 else base + timedelta(hours=i),
                ).id
            )
        admin = make_user("admin")
        db.session.commit()
        got: list[int] = []
        filters = QueueFilters()
        while True:
            page = queue_page(db.session, admin, filters, base, limit=2, with_counts=False)
            got += [r.ticket.id for r in page.rows]
            if not page.next_cursor:
                break
            filters = QueueFilters(after=page.next_cursor)
        assert got == made
        assert Cursor.decode("not-a-cursor") is None


def _queue_form(client: FlaskClient) -> tuple[str, str]:
    html = client.get("/queue").get_data(as_text=True)
    return html, csrf_from(html)


def test_claim_from_the_queue(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    login(client, s["users"]["l1"])
    _, token = _queue_form(client)
    tid = s["ids"]["ne_overdue"]
    resp = client.post(
        "/queue", data={"csrf_token": token, "claim_id": str(tid), "next": "/queue?type=conflict"}
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/queue?type=conflict"
    with app.app_context():
        t = db.session.get(Ticket, tid)
        assert t.status == "in_review"
        assert db.session.get(User, t.owner_id).email == s["users"]["l1"]


def test_bulk_claim_skips_what_cannot_be_taken(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    ids = s["ids"]
    login(client, s["users"]["l1"])
    _, token = _queue_form(client)
    resp = client.post(
        "/queue",
        data={
            "csrf_token": token,
            "action": "claim",
            "ticket_ids": [str(ids["ne_overdue"]), str(ids["ne_soon"]), str(ids["pac"])],
        },
        follow_redirects=True,
    )
    html = resp.get_data(as_text=True)
    assert "Claimed 2 ticket(s)" in html and f"#{ids['pac']}" in html
    with app.app_context():
        statuses = {
            t.id: t.status
            for t in db.session.execute(
                sa.select(Ticket).where(Ticket.id.in_(ids.values()))
            ).scalars()
        }
    assert statuses[ids["ne_overdue"]] == statuses[ids["ne_soon"]] == "in_review"
    assert statuses[ids["pac"]] == "open"


def test_bulk_assign(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    ids = s["ids"]
    with app.app_context():
        colleague = make_user(
            "reviewer", level=1, districts=["northeast", "midatlantic", "pacific"]
        )
        colleague_id = colleague.id
        db.session.commit()
    login(client, s["users"]["l3"])
    html, token = _queue_form(client)
    assert f'value="{colleague_id}"' in html
    resp = client.post(
        "/queue",
        data={
            "csrf_token": token,
            "action": "assign",
            "assignee": str(colleague_id),
            "ticket_ids": [str(ids["ma"]), str(ids["pac"])],
        },
    )
    assert resp.status_code == 302
    with app.app_context():
        owners = {db.session.get(Ticket, ids[k]).owner_id for k in ("ma", "pac")}
    assert owners == {colleague_id}
    # Assigning without choosing someone changes nothing.
    resp = client.post(
        "/queue",
        data={
            "csrf_token": token,
            "action": "assign",
            "assignee": "0",
            "ticket_ids": [ids["ne_soon"]],
        },
        follow_redirects=True,
    )
    assert "Choose the reviewer" in resp.get_data(as_text=True)


def test_bulk_actions_need_csrf(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    login(client, s["users"]["l1"])
    resp = client.post("/queue", data={"action": "claim", "ticket_ids": [s["ids"]["ne_soon"]]})
    assert resp.status_code == 400
    with app.app_context():
        assert db.session.get(Ticket, s["ids"]["ne_soon"]).status == "open"


def test_next_url_cannot_leave_the_queue(app: Flask, client: FlaskClient) -> None:
    s = _setup(app)
    login(client, s["users"]["l1"])
    _, token = _queue_form(client)
    resp = client.post(
        "/queue",
        data={
            "csrf_token": token,
            "claim_id": str(s["ids"]["ne_soon"]),
            "next": "https://evil.test/",
        },
    )
    assert resp.headers["Location"] == "/queue"


def test_counts_are_cached_briefly_when_configured(app: Flask) -> None:
    s = _setup(app)
    app.config["QUEUE_COUNTS_TTL_SECONDS"] = 60
    try:
        with app.app_context():
            admin = db.session.execute(
                sa.select(User).where(User.email == s["users"]["admin"])
            ).scalar_one()
            first = queue_page(db.session, admin, QueueFilters(), utcnow())
            assert first.counts["totals"]["total"] == 5 and first.counts["fresh"]
            db.session.get(Ticket, s["ids"]["pac"]).status = "decided"
            db.session.get(Ticket, s["ids"]["pac"]).resolution = "rejected"
            db.session.get(Ticket, s["ids"]["pac"]).rationale = "x" * 12
            db.session.get(Ticket, s["ids"]["pac"]).decided_at = utcnow()
            db.session.commit()
            again = queue_page(db.session, admin, QueueFilters(rule="NAMED_ACCOUNT_2"), utcnow())
            assert again.counts["totals"]["total"] == 5 and not again.counts["fresh"]
            # Stale counts never hide rows: the page itself is always read live.
            assert again.rows == []
    finally:
        app.config.pop("QUEUE_COUNTS_TTL_SECONDS")
        from escalation import queries

        queries._counts_cache.clear()
