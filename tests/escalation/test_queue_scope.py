"""The reviewer queue's scope and counts: territory plus owned tickets, combined filters, counts
that never lag behind the reviewer's own change and say when they come from the cache."""

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from escalation import queries, service
from escalation.queries import QueueFilters, queue_page
from models import Partner, Ticket, User, utcnow
from models.db import db
from tests.factories import (
    csrf_from,
    login,
    make_api_token,
    make_district,
    make_registration,
    make_ticket,
    make_user,
)

AS_OF = re.compile(r'counts as of <time datetime="[^"]+">\d\d:\d\d:\d\d UTC</time>')


def _listed(html: str) -> list[int]:
    return [int(m) for m in re.findall(r'<td><a href="/tickets/(\d+)">\d+</a></td>', html)]


def _option(html: str, label: str) -> int:
    """Return the count an option of the filter form shows, such as "Open (3)"."""
    found = re.search(rf">{re.escape(label)} \((\d+)\)</option>", html)
    assert found, f"no option {label!r}"
    return int(found.group(1))


def _user(email: str) -> User:
    return db.session.execute(sa.select(User).where(User.email == email)).scalar_one()


def _world(app: Flask) -> dict[str, Any]:
    """Four districts in two regions; a coordinator without districts who owns tickets in
    several of them; a district reviewer, a region reviewer and an admin."""
    with app.app_context():
        make_district("northeast", "east", name="New England & Upstate")
        make_district("midatlantic", "east", name="Mid-Atlantic")
        make_district("pacific", "west", name="Pacific")
        make_district("mountain", "west", name="Mountain")
        reg = make_registration(make_user("partner"))
        coord = make_user("reviewer", level=1, districts=[])
        l1 = make_user("reviewer", level=1, districts=["northeast"])
        l2 = make_user("reviewer", level=2, districts=[], region="east")
        now = utcnow()
        ids: dict[str, int] = {}
        specs: list[tuple[str, str | None, str, int | None, timedelta | None]] = [
            # name, district, status, owner, due from now
            ("ne_free", "northeast", "open", None, timedelta(hours=1)),
            ("ne_l1", "northeast", "in_review", l1.id, timedelta(hours=3)),
            ("ne_l2", "northeast", "in_review", l2.id, timedelta(hours=5)),
            ("ma_coord", "midatlantic", "open", coord.id, timedelta(hours=2)),
            ("ma_l2", "midatlantic", "in_review", l2.id, timedelta(hours=6)),
            ("pac_coord", "pacific", "in_review", coord.id, timedelta(hours=-1)),
            ("pac_l1", "pacific", "open", l1.id, timedelta(hours=2, minutes=30)),
            ("mtn_free", "mountain", "open", None, timedelta(hours=4)),
            ("nowhere_coord", None, "open", coord.id, None),
            ("mtn_l1_undated", "mountain", "open", l1.id, None),
        ]
        for i, (name, district, status, owner, due) in enumerate(specs):
            region = {"northeast": "east", "midatlantic": "east"}.get(district or "", "west")
            ids[name] = make_ticket(
                reg,
                rule=f"RULE_{i}",
                district=district,
                region=region if district else None,
                status=status,
                owner_id=owner,
                sla_due_at=now + due if due is not None else None,
            ).id
        make_ticket(
            reg,
            rule="DONE",
            district="pacific",
            status="decided",
            owner_id=coord.id,
            resolution="rejected",
            rationale="x" * 12,
            decided_at=now,
        )
        users = {"coord": coord.email, "l1": l1.email, "l2": l2.email}
        users["admin"] = make_user("admin").email
        db.session.commit()
    return {"ids": ids, "users": users}


# --- 1. the default queue is the territory and the reviewer's own tickets ----------------------


def test_coordinator_without_districts_sees_the_tickets_they_own(
    app: Flask, client: FlaskClient
) -> None:
    w = _world(app)
    ids = w["ids"]
    login(client, w["users"]["coord"])
    html = client.get("/queue").get_data(as_text=True)
    # Most urgent first, the ticket without a due time last; the decided one never.
    assert _listed(html) == [ids["pac_coord"], ids["ma_coord"], ids["nowhere_coord"]]
    # The header and the counts agree with the list.
    assert "Your districts: none assigned, and 3 tickets you own elsewhere" in html
    assert "· 3 open · 1 overdue · " in html and " · 3 yours" in html
    assert _option(html, "Open") == 2 and _option(html, "In review") == 1
    assert _option(html, "Me") == 3 and _option(html, "Unassigned") == 0
    assert '<option value="pacific">Pacific (1)</option>' in html
    assert '<option value="midatlantic">Mid-Atlantic (1)</option>' in html
    assert "All my districts and tickets" in html
    # The owner can work every one of them.
    assert len(re.findall(r'name="ticket_ids" value="\d+"', html)) == 3
    # The filters narrow that same set.
    assert _listed(client.get("/queue?district=pacific").get_data(as_text=True)) == [
        ids["pac_coord"]
    ]
    assert _listed(client.get("/queue?status=open").get_data(as_text=True)) == [
        ids["ma_coord"],
        ids["nowhere_coord"],
    ]
    assert _listed(client.get("/queue?owner=unassigned").get_data(as_text=True)) == []
    assert _listed(client.get("/queue?district=mountain").get_data(as_text=True)) == []


def test_district_reviewer_sees_territory_and_owned_tickets_once(
    app: Flask, client: FlaskClient
) -> None:
    w = _world(app)
    ids = w["ids"]
    login(client, w["users"]["l1"])
    html = client.get("/queue").get_data(as_text=True)
    # The owned Pacific ticket sits in due order between the territory's, the undated one
    # last; the owned Northeast ticket is listed once, not once per range.
    assert _listed(html) == [
        ids["ne_free"],
        ids["pac_l1"],
        ids["ne_l1"],
        ids["ne_l2"],
        ids["mtn_l1_undated"],
    ]
    assert "Your districts: New England &amp; Upstate, and 2 tickets you own elsewhere" in html
    assert "· 5 open · 0 overdue · " in html and " · 3 yours" in html
    assert '<option value="northeast">New England &amp; Upstate (3)</option>' in html
    assert '<option value="pacific">Pacific (1)</option>' in html
    assert '<option value="mountain">Mountain (1)</option>' in html
    assert '<option value="midatlantic">' not in html
    assert _option(html, "Open") == 3 and _option(html, "In review") == 2
    # Another district shows only what the reviewer owns there, and nothing of the rest.
    assert _listed(client.get("/queue?district=pacific").get_data(as_text=True)) == [ids["pac_l1"]]
    assert _listed(client.get("/queue?district=mountain").get_data(as_text=True)) == [
        ids["mtn_l1_undated"]
    ]
    assert _listed(client.get("/queue?district=midatlantic").get_data(as_text=True)) == []
    assert _listed(client.get("/queue?owner=unassigned").get_data(as_text=True)) == [ids["ne_free"]]


def test_reviewer_owning_nothing_elsewhere_keeps_the_plain_header(
    app: Flask, client: FlaskClient
) -> None:
    w = _world(app)
    ids = w["ids"]
    login(client, w["users"]["l2"])
    html = client.get("/queue").get_data(as_text=True)
    assert _listed(html) == [
        ids["ne_free"],
        ids["ma_coord"],
        ids["ne_l1"],
        ids["ne_l2"],
        ids["ma_l2"],
    ]
    assert "you own elsewhere" not in html and "All my districts</option>" in html
    assert "· 5 open · " in html and " · 2 yours" in html


def test_keyset_pages_merge_the_owned_range(app: Flask) -> None:
    w = _world(app)
    ids = w["ids"]
    expected = {
        "l1": [ids["ne_free"], ids["pac_l1"], ids["ne_l1"], ids["ne_l2"], ids["mtn_l1_undated"]],
        "coord": [ids["pac_coord"], ids["ma_coord"], ids["nowhere_coord"]],
    }
    with app.app_context():
        for who, order in expected.items():
            user = _user(w["users"][who])
            for with_counts in (True, False):
                got: list[int] = []
                filters = QueueFilters()
                while True:
                    page = queue_page(
                        db.session, user, filters, utcnow(), limit=1, with_counts=with_counts
                    )
                    got += [r.ticket.id for r in page.rows]
                    if not page.next_cursor:
                        break
                    filters = QueueFilters(after=page.next_cursor)
                assert got == order, (who, with_counts)


# --- 2. "Owner: me" combines with the other filters ---------------------------------------------


def test_owner_me_and_district_combine(app: Flask, client: FlaskClient) -> None:
    w = _world(app)
    ids = w["ids"]
    login(client, w["users"]["l2"])
    assert _listed(client.get("/queue?owner=me").get_data(as_text=True)) == [
        ids["ne_l2"],
        ids["ma_l2"],
    ]
    html = client.get("/queue?owner=me&district=northeast").get_data(as_text=True)
    assert _listed(html) == [ids["ne_l2"]]
    assert _listed(client.get("/queue?owner=me&district=midatlantic").get_data(as_text=True)) == [
        ids["ma_l2"]
    ]
    assert _listed(client.get("/queue?owner=me&district=pacific").get_data(as_text=True)) == []
    assert _listed(client.get("/queue?owner=me&status=open").get_data(as_text=True)) == []


def test_owner_me_with_a_district_outside_the_territory(app: Flask, client: FlaskClient) -> None:
    w = _world(app)
    ids = w["ids"]
    login(client, w["users"]["l1"])
    assert _listed(client.get("/queue?owner=me&district=pacific").get_data(as_text=True)) == [
        ids["pac_l1"]
    ]
    assert _listed(client.get("/queue?owner=me&district=northeast").get_data(as_text=True)) == [
        ids["ne_l1"]
    ]
    assert _listed(client.get("/queue?owner=me&district=mountain").get_data(as_text=True)) == [
        ids["mtn_l1_undated"]
    ]
    assert _listed(client.get("/queue?owner=me&district=midatlantic").get_data(as_text=True)) == []


# --- 3. counts after the reviewer's own change, and when they come from the cache --------------


@pytest.fixture()
def cached_counts(app: Flask) -> Iterator[None]:
    """Cache the facet counts as production does (they are off in tests by default)."""
    queries._counts_cache.clear()
    app.config["QUEUE_COUNTS_TTL_SECONDS"] = 60
    try:
        yield
    finally:
        app.config.pop("QUEUE_COUNTS_TTL_SECONDS")
        queries._counts_cache.clear()


def _backlog(app: Flask, n: int = 5) -> dict[str, Any]:
    with app.app_context():
        make_district("northeast", "east")
        reg = make_registration(make_user("partner"))
        now = utcnow()
        ids = [
            make_ticket(reg, rule=f"R{i}", sla_due_at=now + timedelta(hours=i + 1)).id
            for i in range(n)
        ]
        me = make_user("reviewer", level=1, districts=["northeast"])
        colleague = make_user("reviewer", level=1, districts=["northeast"])
        data = {"ids": ids, "me": me.email, "colleague": colleague.email, "me_id": me.id}
        data["token"] = make_api_token(me)[1]
        db.session.commit()
    return data


def test_counts_are_right_right_after_claiming(
    app: Flask, client: FlaskClient, cached_counts: None
) -> None:
    s = _backlog(app)
    login(client, s["me"])
    html = client.get("/queue").get_data(as_text=True)
    assert _option(html, "Open") == 5 and _option(html, "In review") == 0
    resp = client.post(
        "/queue",
        data={
            "csrf_token": csrf_from(html),
            "action": "claim",
            "ticket_ids": [str(i) for i in s["ids"][:3]],
            "next": "/queue",
        },
    )
    assert resp.status_code == 302
    # The next page the reviewer opens, whichever it is, counts their claims.
    html = client.get("/queue?status=in_review").get_data(as_text=True)
    assert _listed(html) == s["ids"][:3]
    assert _option(html, "Open") == 2 and _option(html, "In review") == 3
    assert "· 3 yours" in html and not AS_OF.search(html)
    # Those counts are cached now: the next page says so, and they are still right.
    html = client.get("/queue").get_data(as_text=True)
    assert AS_OF.search(html)
    assert _option(html, "Open") == 2 and _option(html, "In review") == 3


def test_counts_older_than_the_own_change_are_refused_in_any_worker(
    app: Flask, client: FlaskClient, cached_counts: None
) -> None:
    """The stamp travels in the user's session: a worker whose cache still holds counts from
    before the change (nothing told it) reads them again for this user."""
    s = _backlog(app)
    login(client, s["me"])
    html = client.get("/queue").get_data(as_text=True)
    before = dict(queries._counts_cache)
    assert len(before) == 1
    client.post("/queue", data={"csrf_token": csrf_from(html), "claim_id": str(s["ids"][0])})
    queries._counts_cache.clear()
    queries._counts_cache.update(before)  # another worker's cache, untouched by the claim
    html = client.get("/queue").get_data(as_text=True)
    assert _option(html, "Open") == 4 and _option(html, "In review") == 1
    assert not AS_OF.search(html)


def test_counts_are_right_after_deciding_on_the_ticket_page(
    app: Flask, client: FlaskClient, cached_counts: None
) -> None:
    s = _backlog(app)
    login(client, s["me"])
    html = client.get("/queue").get_data(as_text=True)
    assert "· 5 open · " in html
    url = f"/tickets/{s['ids'][0]}"
    page = client.get(url).get_data(as_text=True)
    resp = client.post(
        f"{url}/decision",
        data={
            "csrf_token": csrf_from(page),
            "resolution": "partner_leads",
            "rationale": "The partner found the deal first.",
        },
    )
    assert resp.status_code == 302
    html = client.get("/queue").get_data(as_text=True)
    assert "· 4 open · " in html and _option(html, "Open") == 4
    assert _listed(html) == s["ids"][1:]


def test_other_peoples_changes_show_cached_counts_with_their_time(
    app: Flask, client: FlaskClient, cached_counts: None
) -> None:
    s = _backlog(app)
    login(client, s["me"])
    html = client.get("/queue").get_data(as_text=True)
    assert _option(html, "Open") == 5 and not AS_OF.search(html)
    with app.app_context():
        ticket = db.session.get(Ticket, s["ids"][0])
        service.claim(db.session, ticket, _user(s["colleague"]))
        db.session.commit()
    html = client.get("/queue?status=in_review").get_data(as_text=True)
    # The counts are the cached ones, and the page says when they were read; the rows are live.
    assert _option(html, "Open") == 5 and _option(html, "In review") == 0
    assert AS_OF.search(html)
    assert _listed(html) == [s["ids"][0]]


def test_tickets_given_to_the_reviewer_elsewhere_show_at_once(
    app: Flask, client: FlaskClient, cached_counts: None
) -> None:
    """Someone else's assignment is not the reviewer's own change, so the territory counts
    stay cached; the owned tickets outside it are still listed and counted live."""
    w = _world(app)
    ids = w["ids"]
    login(client, w["users"]["l1"])
    html = client.get("/queue").get_data(as_text=True)
    assert "and 2 tickets you own elsewhere" in html and "· 5 open · " in html
    with app.app_context():
        ticket = db.session.get(Ticket, ids["mtn_free"])
        # Outside the reviewer's territory, the ticket is theirs to take as its Gold
        # partner's technical coordinator.
        partner = db.session.get(Partner, ticket.partner_id)
        partner.points, partner.technical_coordinator_id = 130, _user(w["users"]["l1"]).id
        service.assign(
            db.session, ticket, assignee=_user(w["users"]["l1"]), actor=_user(w["users"]["admin"])
        )
        db.session.commit()
    html = client.get("/queue").get_data(as_text=True)
    assert AS_OF.search(html)
    assert ids["mtn_free"] in _listed(html)
    assert "and 3 tickets you own elsewhere" in html and "· 6 open · " in html
    assert " · 4 yours" in html and '<option value="mountain">Mountain (2)</option>' in html


def test_api_changes_set_no_cookie(app: Flask, client: FlaskClient) -> None:
    s = _backlog(app)
    resp = client.post(
        f"/api/v1/tickets/{s['ids'][0]}/decision",
        json={"resolution": "partner_leads", "rationale": "The partner found the deal first."},
        headers={"Authorization": f"Bearer {s['token']}"},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert "Set-Cookie" not in resp.headers
