"""The partner's pages: each outcome's decision page, the list, CSV export, withdraw, extend."""

import csv
import html
import io
import json
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from models import Registration, Ticket, TicketEvent, utcnow
from models.db import db
from tests.factories import (
    csrf_from,
    login,
    make_district,
    make_list,
    make_registration,
    make_ticket,
    make_user,
)

ACCOUNTS = [
    {
        "name": "Caterpillar Inc.",
        "domain": "caterpillar.com",
        "district": "northeast",
        "mcs_owner_email": "owner@mcs.example.com",
        "pc_count": 90_000,
    },
]


@pytest.fixture()
def world(app: Flask) -> SimpleNamespace:
    """A district with a reviewer, a published list, two partners and an MCS seller."""
    with app.app_context():
        make_district("northeast", "east")
        reviewer = make_user("reviewer", districts=["northeast"])
        make_list(ACCOUNTS)
        alice = make_user("partner")
        bob = make_user("partner")
        mcs = make_user("mcs", email="owner@mcs.example.com")
        other_mcs = make_user("mcs")
        admin = make_user("admin")
        db.session.commit()
        return SimpleNamespace(
            reviewer=reviewer.email,
            alice=alice.email,
            alice_partner=alice.partner_id,
            alice_id=alice.id,
            bob=bob.email,
            bob_partner=bob.partner_id,
            bob_id=bob.id,
            mcs=mcs.email,
            other_mcs=other_mcs.email,
            admin=admin.email,
        )


def register(client: FlaskClient, **fields: Any) -> int:
    """Fill in and submit the registration form; return the new registration's id."""
    page = client.get("/registrations/new").get_data(as_text=True)
    nonce = re.search(r'name="nonce" type="hidden" value="([^"]+)"', page)
    assert nonce is not None
    data = {
        "customer_name": "Wayne Enterprises",
        "country": "US",
        "workloads": ["exchange"],
        "csrf_token": csrf_from(page),
        "nonce": nonce.group(1),
    }
    data.update({k: v for k, v in fields.items() if v is not None})
    resp = client.post("/registrations/new", data=data)
    assert resp.status_code == 303, resp.get_data(as_text=True)
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def token_of(client: FlaskClient, url: str = "/registrations") -> str:
    return csrf_from(client.get(url).get_data(as_text=True))


# The decision page for each outcome -----------------------------------------------------------


def test_approved_decision_shows_the_expiry(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.alice)
    reg_id = register(client)
    page = client.get(f"/registrations/{reg_id}", follow_redirects=True)
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "The registration is yours until it expires." in body
    assert "No rule of engagement applies" in body
    with app.app_context():
        reg = db.session.get(Registration, reg_id)
        assert reg is not None and reg.expires_at is not None
        assert f"Expires on <strong>{reg.expires_at:%Y-%m-%d}</strong>" in body
    assert "Request an extension" in body and "Withdraw registration" in body


def test_conflict_decision_explains_findings_and_shows_the_public_timeline(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.alice)
    reg_id = register(client, customer_name="Caterpillar", customer_domain="www.caterpillar.com")
    with app.app_context():
        reg = db.session.get(Registration, reg_id)
        assert reg is not None and reg.status == "in_conflict"
        ticket = db.session.execute(
            sa.select(Ticket).where(Ticket.registration_id == reg_id)
        ).scalar_one()
        db.session.add_all(
            [
                TicketEvent(ticket_id=ticket.id, kind="commented", body="Reviewer is on it."),
                TicketEvent(
                    ticket_id=ticket.id,
                    kind="commented",
                    visibility="internal",
                    body="Secret staff note about pricing.",
                ),
            ]
        )
        db.session.commit()
        ticket_id = ticket.id
    body = client.get(f"/registrations/{reg_id}").get_data(as_text=True)
    assert "A channel manager decides who leads." in body
    assert "Named account" in body
    assert "Caterpillar Inc." in body and "by web domain" in body
    assert f'href="/tickets/{ticket_id}"' in body
    assert "Public timeline" in body and "Reviewer is on it." in body
    assert "Secret staff note" not in body
    # Staff see the internal note on the same page.
    client.post("/logout", data={"csrf_token": token_of(client)})
    login(client, world.admin)
    staff = client.get(f"/registrations/{reg_id}").get_data(as_text=True)
    assert "Secret staff note about pricing." in staff and "(internal)" in staff


def test_exception_review_decision(app: Flask, client: FlaskClient, world: SimpleNamespace) -> None:
    login(client, world.mcs)
    reg_id = register(
        client,
        customer_name="Small Shop Ltd",
        pc_count="300",
        workloads=["dotnet_server"],
        dotnet_early_adoption="y",
        estimated_value="900000",
    )
    body = client.get(f"/registrations/{reg_id}").get_data(as_text=True)
    assert "In exception review" in body
    assert "Early .NET exception" in body
    with app.app_context():
        assert db.session.get(Registration, reg_id).status == "in_exception_review"  # type: ignore[union-attr]


def test_rejected_decision_gives_the_reason(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.mcs)
    reg_id = register(client, customer_name="Tiny Bakery", pc_count="40")
    body = client.get(f"/registrations/{reg_id}").get_data(as_text=True)
    assert "This registration does not go ahead." in body and "Why:" in body
    assert "Outside the MCS space" in body
    assert "4,000" in body  # the reason quotes the threshold
    assert "Withdraw registration" not in body  # a rejected registration is closed


def test_two_partners_on_different_workloads_both_approved(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.alice)
    first = register(client, customer_name="Globex Corporation", workloads=["exchange"])
    client.post("/logout", data={"csrf_token": token_of(client)})
    login(client, world.bob)
    second = register(client, customer_name="Globex Corp", workloads=["yammer", "skype"])
    third = register(client, customer_name="Globex", workloads=["exchange"])
    with app.app_context():
        statuses = {r.id: r.status for r in db.session.execute(sa.select(Registration)).scalars()}
    assert statuses[first] == statuses[second] == "approved"
    assert statuses[third] == "in_conflict"  # same workload: partner overlap
    body = client.get(f"/registrations/{third}").get_data(as_text=True)
    assert "Partner overlap" in body
    with app.app_context():
        from models import Partner

        alice_org = db.session.get(Partner, world.alice_partner)
        assert alice_org is not None
        assert alice_org.name not in body  # never name the other partner


# Partner isolation ----------------------------------------------------------------------------


def test_another_partners_registration_is_404_everywhere(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    with app.app_context():
        from models import User

        bob = db.session.get(User, world.bob_id)
        theirs = make_registration(bob, customer_name="Bob Secret Customer")
        make_ticket(theirs)
        db.session.commit()
        reg_id = theirs.id
    login(client, world.alice)
    token = token_of(client)
    assert client.get(f"/registrations/{reg_id}").status_code == 404
    withdraw = {"csrf_token": token, "withdraw-reason": "not mine but trying"}
    assert client.post(f"/registrations/{reg_id}/withdraw", data=withdraw).status_code == 404
    extend = {"csrf_token": token, "extend-reason": "not mine but trying"}
    assert client.post(f"/registrations/{reg_id}/extension", data=extend).status_code == 404
    assert (
        client.post(f"/registrations/{reg_id}/dpor", data={"csrf_token": token}).status_code == 404
    )
    assert b"Bob Secret Customer" not in client.get("/registrations").data
    assert b"Bob Secret Customer" not in client.get("/registrations.csv").data
    assert client.get(f"/partners/{world.bob_partner}/credits").status_code == 404
    assert client.get("/customers?name=Bob+Secret+Customer").status_code == 404
    with app.app_context():
        assert db.session.get(Registration, reg_id).status == "approved"  # type: ignore[union-attr]


def test_mcs_sees_mcs_engagements_and_its_own_conflicts_only(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.alice)
    named = register(client, customer_name="Caterpillar", customer_domain="caterpillar.com")
    plain = register(client, customer_name="Initech")
    client.post("/logout", data={"csrf_token": token_of(client)})
    login(client, world.mcs)  # the named account's MCS owner
    assert client.get(f"/registrations/{named}").status_code == 200
    assert client.get(f"/registrations/{plain}").status_code == 404
    listing = client.get("/registrations").get_data(as_text=True)
    assert "Initech" not in listing
    client.post("/logout", data={"csrf_token": token_of(client)})
    login(client, world.other_mcs)
    assert client.get(f"/registrations/{named}").status_code == 404


# The list: filters, keyset pagination, CSV ----------------------------------------------------


def _seed_many(app: Flask, world: SimpleNamespace, n: int) -> list[int]:
    from models import User

    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    ids: list[int] = []
    with app.app_context():
        alice = db.session.get(User, world.alice_id)
        for i in range(n):
            # Pairs share a timestamp so the id breaks ties.
            reg = make_registration(
                alice,
                customer_name=f"Customer {i:03d}",
                submitted_at=base + timedelta(hours=i // 2),
                status="approved" if i % 3 else "rejected",
            )
            ids.append(reg.id)
        db.session.commit()
    return ids


def test_keyset_pagination_visits_every_row_once_in_order(
    app: Flask, client: FlaskClient, world: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conflict.views

    monkeypatch.setattr(conflict.views, "PAGE_SIZE", 4)
    ids = _seed_many(app, world, 11)
    login(client, world.alice)
    seen: list[int] = []
    url: str | None = "/registrations"
    pages = 0
    while url:
        body = client.get(url).get_data(as_text=True)
        seen += [
            int(x) for x in re.findall(r'<td><a href="/registrations/(\d+)">\d+</a></td>', body)
        ]
        nxt = re.search(r'<a href="([^"]+)" rel="next">', body)
        url = nxt.group(1).replace("&amp;", "&") if nxt else None
        pages += 1
    assert pages == 3
    assert seen == sorted(ids, key=lambda i: ((i - ids[0]) // 2, i), reverse=True)
    assert client.get("/registrations?cursor=not-a-cursor").status_code == 400


def test_filters_by_status_customer_and_dates(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    _seed_many(app, world, 6)
    with app.app_context():
        from models import User

        alice = db.session.get(User, world.alice_id)
        make_registration(
            alice,
            customer_name="100% Organic_Farms",
            status="withdrawn",
            withdrawn_reason="lost the deal",
        )
        db.session.commit()
    login(client, world.alice)

    def names(query: str) -> set[str]:
        body = client.get("/registrations?" + query).get_data(as_text=True)
        return set(re.findall(r'">((?:Customer \d+)|(?:100% Organic_Farms))</a>', body))

    assert names("status=rejected") == {"Customer 000", "Customer 003"}
    assert names("customer=customer+00") == {f"Customer {i:03d}" for i in range(6)}
    assert names("customer=%25+organic") == {"100% Organic_Farms"}  # % is literal
    assert names("customer=_") == {"100% Organic_Farms"}  # so is _
    assert names("submitted_from=2026-03-02") == {"100% Organic_Farms"}
    assert names("submitted_from=2026-03-01&submitted_to=2026-03-01") == {
        f"Customer {i:03d}" for i in range(6)
    }
    # The CSV honours the same filters.
    rows = list(
        csv.DictReader(io.StringIO(client.get("/registrations.csv?status=rejected").data.decode()))
    )
    assert sorted(r["customer_name"] for r in rows) == ["Customer 000", "Customer 003"]


def test_a_filter_it_cannot_use_is_explained_beside_the_field(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.alice)
    for query, message in (
        ("customer=Con%00toso", "Remove the NUL character"),
        ("customer=" + "x" * 301, "Use at most 300 characters."),
        ("status=lost", "Choose one of the options offered"),
    ):
        resp = client.get("/registrations?" + query)
        assert resp.status_code == 200, query
        body = html.unescape(resp.get_data(as_text=True))
        start = body.index('class="filters"')
        filters = body[start : body.index("</form>", start)]
        assert 'has-error">' in filters and message in filters, query
        export = client.get("/registrations.csv?" + query)
        assert export.status_code == 400, query
        assert message in html.unescape(export.get_data(as_text=True)), query


def test_csv_export_content_and_formula_injection(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    from models import User

    with app.app_context():
        alice = db.session.get(User, world.alice_id)
        make_registration(
            alice,
            customer_name='=HYPERLINK("http://evil.example","click")',
            customer_domain="evil.example",
            notes="+cmd|' /C calc'!A0",
            pc_count=1500,
            workloads=["exchange", "yammer"],
        )
        make_registration(alice, customer_name="@SUM(1+1)", notes="-2+3")
        make_registration(alice, customer_name='Plain, Quoted "Name"', notes="line1\nline2")
        db.session.commit()
    login(client, world.alice)
    resp = client.get("/registrations.csv")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(resp.data.decode())))
    by_name = {r["customer_name"]: r for r in rows}
    assert set(by_name) == {
        '\'=HYPERLINK("http://evil.example","click")',
        "'@SUM(1+1)",
        'Plain, Quoted "Name"',
    }
    evil = by_name['\'=HYPERLINK("http://evil.example","click")']
    assert evil["notes"] == "'+cmd|' /C calc'!A0"
    assert evil["workloads"] == "exchange;yammer" and evil["pc_count"] == "1500"
    assert by_name["'@SUM(1+1)"]["notes"] == "'-2+3"
    assert by_name['Plain, Quoted "Name"']["notes"] == "line1\nline2"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value


# Withdraw and extend --------------------------------------------------------------------------


def test_withdraw_needs_a_reason_and_redirects(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.alice)
    reg_id = register(client)
    url = f"/registrations/{reg_id}"
    token = token_of(client, url)
    short = client.post(f"{url}/withdraw", data={"csrf_token": token, "withdraw-reason": "no"})
    assert short.status_code == 422 and b"between 5 and 2,000" in short.data
    no_csrf = client.post(f"{url}/withdraw", data={"withdraw-reason": "Customer chose a rival."})
    assert no_csrf.status_code == 400
    done = client.post(
        f"{url}/withdraw", data={"csrf_token": token, "withdraw-reason": "Customer chose a rival."}
    )
    assert done.status_code == 303 and done.headers["Location"] == url
    page = client.get(url).get_data(as_text=True)
    assert "Withdrawn on" in page and "Customer chose a rival." in page
    again = client.post(
        f"{url}/withdraw", data={"csrf_token": token, "withdraw-reason": "Twice is too often."}
    )
    assert again.status_code == 422 and b"cannot be withdrawn" in again.data


def test_extension_is_offered_once_before_expiry(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.alice)
    reg_id = register(client)
    url = f"/registrations/{reg_id}"
    with app.app_context():
        before = db.session.get(Registration, reg_id).expires_at  # type: ignore[union-attr]
    token = token_of(client, url)
    data = {"csrf_token": token, "extend-reason": "Customer board meets next quarter."}
    done = client.post(f"{url}/extension", data=data)
    assert done.status_code == 303
    with app.app_context():
        reg = db.session.get(Registration, reg_id)
        assert reg is not None and reg.extension_requested_at is not None
        assert reg.expires_at is not None and before is not None and reg.expires_at > before
    page = client.get(url).get_data(as_text=True)
    assert "Request an extension" not in page and "An extension was requested" in page
    twice = client.post(f"{url}/extension", data=data)
    assert twice.status_code == 422 and b"already requested" in twice.data


def test_no_extension_after_expiry(app: Flask, client: FlaskClient, world: SimpleNamespace) -> None:
    from models import User

    with app.app_context():
        alice = db.session.get(User, world.alice_id)
        reg = make_registration(alice, expires_at=utcnow() - timedelta(days=1))
        db.session.commit()
        reg_id = reg.id
    login(client, world.alice)
    url = f"/registrations/{reg_id}"
    assert "Request an extension" not in client.get(url).get_data(as_text=True)
    data = {"csrf_token": token_of(client, url), "extend-reason": "Please give us more time."}
    resp = client.post(f"{url}/extension", data=data)
    assert resp.status_code == 422 and b"already expired" in resp.data


# The live pre-check ---------------------------------------------------------------------------


def precheck(client: FlaskClient, token: str | None, **payload: Any) -> Any:
    headers = {"X-CSRFToken": token} if token else {}
    return client.post(
        "/registrations/precheck",
        data=json.dumps(payload),
        content_type="application/json",
        headers=headers,
    )


def test_precheck_verdicts(app: Flask, client: FlaskClient, world: SimpleNamespace) -> None:
    login(client, world.bob)
    register(client, customer_name="Hooli", workloads=["exchange"])
    client.post("/logout", data={"csrf_token": token_of(client)})
    login(client, world.alice)
    token = token_of(client, "/registrations/new")
    cases = [
        ({"customer_name": "C"}, "Type the customer's name"),
        (
            {"customer_name": "Caterpillar", "customer_domain": "caterpillar.com"},
            "Reserved for MCS — named account Caterpillar Inc.",
        ),
        (
            {"customer_name": "Hooli", "workloads": ["exchange"]},
            "Another registration on this customer may conflict",
        ),
        ({"customer_name": "Hooli", "workloads": ["yammer"]}, "No conflict"),
        ({"customer_name": "Hooli"}, "No conflict"),
        ({"customer_name": "Hooli", "customer_domain": "gmail.com"}, "Check the customer domain"),
    ]
    for payload, verdict in cases:
        resp = precheck(client, token, **payload)
        assert resp.status_code == 200
        assert resp.get_json()["verdict"].startswith(verdict), (payload, resp.get_json())
    with app.app_context():
        assert (
            db.session.execute(sa.select(sa.func.count()).select_from(Registration)).scalar_one()
            == 1
        )


def test_precheck_needs_csrf_and_a_session(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    assert precheck(client, None, customer_name="Hooli").status_code in (302, 400, 401)
    login(client, world.alice)
    assert precheck(client, None, customer_name="Hooli").status_code == 400


def test_precheck_is_rate_limited_per_user(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.alice)
    token = token_of(client, "/registrations/new")
    codes = [precheck(client, token, customer_name="Hooli").status_code for _ in range(121)]
    assert codes.count(200) == 120 and codes[-1] == 429


# Tickets on the registration page: only those the viewer may open ----------------------------


def _signed_in(app: Flask, email: str) -> FlaskClient:
    other = app.test_client()
    login(other, email)
    return other


def _tickets_by_rule(app: Flask) -> dict[tuple[int, str], int]:
    with app.app_context():
        return {
            (t.registration_id, t.rule): t.id
            for t in db.session.execute(sa.select(Ticket)).scalars()
        }


def test_an_mcs_owner_sees_a_partners_deal_without_its_conflict_with_another_partner(
    app: Flask, world: SimpleNamespace
) -> None:
    named = {"customer_name": "Caterpillar", "customer_domain": "caterpillar.com"}
    first = register(_signed_in(app, world.alice), **named)
    second = register(_signed_in(app, world.bob), **named)
    tickets = _tickets_by_rule(app)
    overlap = tickets[(second, "PARTNER_OVERLAP")]
    mcs = _signed_in(app, world.mcs)  # the named account's MCS owner
    assert mcs.get(f"/tickets/{overlap}").status_code == 404
    for reg_id in (first, second):
        page = mcs.get(f"/registrations/{reg_id}")
        assert page.status_code == 200, reg_id
        body = html.unescape(page.get_data(as_text=True))
        assert f'href="/tickets/{tickets[(reg_id, "NAMED_ACCOUNT")]}"' in body
        assert f"/tickets/{overlap}" not in body and f"Ticket {overlap}" not in body
        assert "Partner overlap" not in body and "Another partner" not in body
    # Bob himself still reads both conflicts of his registration.
    own = _signed_in(app, world.bob).get(f"/registrations/{second}").get_data(as_text=True)
    assert f'href="/tickets/{overlap}"' in own and "Partner overlap" in own


def test_the_earlier_partner_reads_a_later_overlap_from_their_own_side(
    app: Flask, world: SimpleNamespace
) -> None:
    first = register(_signed_in(app, world.alice), customer_name="Globex Corporation")
    second = register(_signed_in(app, world.bob), customer_name="Globex Corp")
    overlap = _tickets_by_rule(app)[(second, "PARTNER_OVERLAP")]
    with app.app_context():
        written = db.session.execute(
            sa.select(TicketEvent.body).where(
                TicketEvent.ticket_id == overlap, TicketEvent.kind == "opened"
            )
        ).scalar_one()
    alice = _signed_in(app, world.alice)
    body = html.unescape(alice.get(f"/registrations/{first}").get_data(as_text=True))
    assert f'href="/tickets/{overlap}"' in body
    assert written not in body and "Globex Corp " not in body
    assert (
        "Another partner also holds an active registration for Globex Corporation covering "
        "Exchange, which your registration covers too. Your registration has priority because "
        "it was submitted earlier" in body
    )
    bob = html.unescape(
        _signed_in(app, world.bob).get(f"/registrations/{second}").get_data(as_text=True)
    )
    assert written in bob


def test_a_reviewer_sees_only_the_tickets_of_their_territory(
    app: Flask, world: SimpleNamespace
) -> None:
    from models import User

    with app.app_context():
        make_district("pacific", "west")
        far = make_user("reviewer", districts=["pacific"])
        alice = db.session.get(User, world.alice_id)
        reg = make_registration(alice, customer_name="Umbrella", district="northeast")
        near = make_ticket(reg, rule="NAMED_ACCOUNT")
        away = make_ticket(reg, rule="NEEDS_REVIEW", district="pacific")
        db.session.commit()
        ids, far_email = (reg.id, near.id, away.id), far.email
    reg_id, near_id, away_id = ids
    near_page = _signed_in(app, world.reviewer).get(f"/registrations/{reg_id}")
    far_client = _signed_in(app, far_email)
    far_page = far_client.get(f"/registrations/{reg_id}")
    assert far_client.get(f"/tickets/{near_id}").status_code == 403
    assert near_page.status_code == far_page.status_code == 200
    near_body, far_body = near_page.get_data(as_text=True), far_page.get_data(as_text=True)
    assert (
        f'href="/tickets/{near_id}"' in near_body and f'href="/tickets/{away_id}"' not in near_body
    )
    assert f'href="/tickets/{away_id}"' in far_body and f'href="/tickets/{near_id}"' not in far_body


def test_a_deal_settled_by_a_later_registrations_ticket_says_why(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    """Rejected by the decision on MCS's ticket: the reason shows, the old expiry does not."""
    from escalation.service import decide
    from models import User

    login(client, world.alice)
    reg_id = register(
        client, customer_name="Qwerty Big Corp", pc_count="9000", district="northeast"
    )
    seller = app.test_client()
    login(seller, world.mcs)
    register(seller, customer_name="Qwerty Big Corp", pc_count="9000", district="northeast")
    rationale = "MCS has run this customer's server estate for years."
    with app.app_context():
        ticket = db.session.execute(
            sa.select(Ticket).where(Ticket.other_registration_id == reg_id)
        ).scalar_one()
        reviewer = db.session.execute(
            sa.select(User).where(User.email == world.reviewer)
        ).scalar_one()
        decide(db.session, ticket, actor=reviewer, resolution="mcs_leads", rationale=rationale)
        db.session.commit()
        assert db.session.get(Registration, reg_id).status == "rejected"  # type: ignore[union-attr]
        ticket_id = ticket.id
    text = re.sub(r"\s+", " ", html.unescape(client.get(f"/registrations/{reg_id}").get_data(True)))
    assert "This registration does not go ahead." in text
    assert "Rejected Rejected" not in text
    assert f"Ticket {ticket_id} decided MCS leads: {rationale}" in text
    assert "A later registration on this customer raised the conflict" in text
    assert "Expires" not in text


def test_a_possible_match_is_not_called_the_named_account(
    app: Flask, client: FlaskClient, world: SimpleNamespace
) -> None:
    login(client, world.alice)
    reg_id = register(client, customer_name="Caterpillar Daycare")
    text = re.sub(r"\s+", " ", html.unescape(client.get(f"/registrations/{reg_id}").get_data(True)))
    assert "Possibly the named account: Caterpillar Inc." in text
    assert "(score 87 of 100); a channel manager checks whether it is the same company." in text
    assert "Named account: Caterpillar" not in text
