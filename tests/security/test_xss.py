"""Script payloads in every text a user can enter are shown as text, never run, on every page.

Each field gets its own marked payload, entered the way a user enters it (API, form, CSV
upload; names of users and partners, which only admins set, straight in the database). Every
page that shows them must escape them: no raw payload, no element with an event-handler
attribute, no inline script. Each marker must be seen escaped somewhere, so the test fails
if a page stops showing the field at all rather than passing by accident.
"""

import html
import io
from html.parser import HTMLParser

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from models import Partner, Registration, Ticket, User
from models.db import db
from tests.security.world import build_world, clone_client, page_token, signed_in

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
RAW = (SCRIPT, BREAKOUT, "<img src=x onerror=alert(1)>", "onerror=alert(1)>")


def payload(field: str) -> str:
    """Return the payload for one field, marked so the page that shows it can be told."""
    return f"xss{field} {SCRIPT} {BREAKOUT}"


FIELDS = (
    "customer",
    "notes",
    "comment",
    "note",
    "withdraw",
    "account",
    "alias",
    "token",
    "username",
    "partner",
)


class Inspector(HTMLParser):
    """Collect what would execute: event-handler attributes, inline scripts, javascript: URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.dangers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Flag handlers, script-bearing URLs and script elements without a source."""
        for name, value in attrs:
            if name.startswith("on"):
                self.dangers.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith(
                "javascript:"
            ):
                self.dangers.append(f"<{tag} {name}={value!r}>")
        if tag == "script":
            self._in_script = not dict(attrs).get("src")

    def handle_endtag(self, tag: str) -> None:
        """Leave a script element."""
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        """Inline script text is a danger whatever it says."""
        if self._in_script and data.strip():
            self.dangers.append(f"inline script: {data.strip()[:60]!r}")


def _enter_payloads(app: Flask) -> tuple[dict[str, FlaskClient], dict[str, int]]:
    """Put a payload in every field, as users do; return signed-in clients and object ids."""
    world = build_world(app)
    with app.app_context():
        for key in ("partner", "partner_b", "reviewer", "admin", "mcs"):
            user = db.session.get(User, world.user_ids[key])
            assert user is not None
            user.name = payload("username")
        org_a = db.session.get(Partner, world.ids["org_a"])
        assert org_a is not None
        org_a.name = payload("partner")
        db.session.commit()
    clients = {
        role: signed_in(app, world.emails[role])
        for role in ("partner", "partner_b", "reviewer", "admin")
    }
    api = app.test_client()

    def bearer(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {world.tokens[role]}"}

    csv = (
        "name,domain,aliases,district,pc_count\n"
        f'"{payload("account").replace(chr(34), chr(34) * 2)}",xss.example.com,'
        f'"{payload("alias").replace(chr(34), chr(34) * 2)}",northeast,9000\n'
    )
    up = api.post(
        "/api/v1/named-account-lists",
        headers=bearer("admin"),
        data={"file": (io.BytesIO(csv.encode()), "accounts.csv")},
    )
    assert up.status_code == 201, up.get_data(as_text=True)
    body = {
        "customer_name": payload("customer"),
        "district": "northeast",
        "pc_count": 800,
        "workloads": ["exchange"],
        "notes": payload("notes"),
    }
    first = api.post("/api/v1/registrations", headers=bearer("partner_b"), json=body)
    second = api.post("/api/v1/registrations", headers=bearer("partner"), json=body)
    assert first.status_code == second.status_code == 201, second.get_data(as_text=True)
    reg_b, reg_a = first.get_json()["id"], second.get_json()["id"]
    ticket = second.get_json()["ticket_id"]
    assert ticket is not None, "the second partner's registration should be in conflict"
    ids = {
        "reg_a": reg_a,
        "reg_b": reg_b,
        "ticket": ticket,
        "list": up.get_json()["version"]["id"],
        "partner_user": world.user_ids["partner"],
        "org_a": world.ids["org_a"],
    }

    partner, reviewer = clients["partner"], clients["reviewer"]
    resp = partner.post(
        f"/tickets/{ticket}/comments",
        data={"body": payload("comment"), "csrf_token": page_token(partner)},
    )
    assert resp.status_code == 302
    resp = reviewer.post(
        f"/tickets/{ticket}/comments",
        data={"body": payload("note"), "internal": "y", "csrf_token": page_token(reviewer)},
    )
    assert resp.status_code == 302
    b = clients["partner_b"]
    resp = b.post(
        f"/registrations/{reg_b}/withdraw",
        data={"withdraw-reason": payload("withdraw"), "csrf_token": page_token(b)},
    )
    assert resp.status_code == 303, resp.status_code
    resp = partner.post(
        "/profile/tokens", data={"name": payload("token")[:100], "csrf_token": page_token(partner)}
    )
    assert resp.status_code == 201
    with app.app_context():
        assert db.session.get(Registration, reg_b).status == "withdrawn"  # type: ignore[union-attr]
        assert db.session.execute(sa.select(sa.func.count()).select_from(Ticket)).scalar_one()
    return clients, ids


def test_payloads_are_inert_on_every_page(app: Flask) -> None:
    """No page runs or breaks out of any user-entered text."""
    clients, ids = _enter_payloads(app)
    lookup = "/accounts/lookup?q=xssaccount"
    pages = {
        "partner": [
            "/registrations",
            f"/registrations/{ids['reg_a']}",
            f"/tickets/{ids['ticket']}",
            "/profile",
            lookup,
        ],
        "partner_b": [f"/registrations/{ids['reg_b']}", "/registrations"],
        "reviewer": [
            "/queue",
            f"/tickets/{ids['ticket']}",
            f"/registrations/{ids['reg_a']}",
            f"/registrations/{ids['reg_b']}",
            "/dashboard",
            "/customers?name=xsscustomer",
            lookup,
        ],
        "admin": [
            "/admin/users",
            f"/admin/users/{ids['partner_user']}",
            "/admin/partners",
            f"/admin/partners/{ids['org_a']}/edit",
            f"/admin/lists/{ids['list']}",
            "/admin/lists",
            "/admin/outbox",
            "/registrations",
            f"/tickets/{ids['ticket']}",
            "/dashboard",
            lookup,
        ],
    }
    seen: set[str] = set()
    problems: list[str] = []
    for role, paths in pages.items():
        for path in paths:
            resp = clone_client(app, clients[role]).get(path)
            text = resp.get_data(as_text=True)
            if resp.status_code != 200:
                problems.append(f"{role} {path}: {resp.status_code}")
                continue
            for raw in RAW:
                if raw in text:
                    problems.append(f"{role} {path}: raw {raw!r}")
            inspector = Inspector()
            inspector.feed(text)
            problems += [f"{role} {path}: {d}" for d in inspector.dangers]
            shown = html.unescape(text)
            seen |= {f for f in FIELDS if payload(f)[:40] in shown}
    assert not problems, "\n" + "\n".join(problems)
    assert seen == set(FIELDS), f"never shown: {set(FIELDS) - seen}"


def test_api_returns_payloads_as_json_not_html(app: Flask) -> None:
    """The API hands text back verbatim, but as JSON a browser will not sniff into HTML."""
    world = build_world(app)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {world.tokens['partner']}"}
    body = {"customer_name": payload("customer"), "workloads": ["exchange"]}
    resp = client.post("/api/v1/registrations", headers=auth, json=body)
    assert resp.status_code == 201
    assert resp.mimetype == "application/json"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.get_json()["customer_name"] == payload("customer")
