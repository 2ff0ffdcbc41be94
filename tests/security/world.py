"""A small, complete world for access-control tests: every role, and objects owned by each side.

Two partner organisations (A and B), one MCS seller, a level-1 reviewer for the ``northeast``
district, an admin; registrations and tickets on both sides of every boundary (partner A /
partner B, northeast / west); a named-account list draft, two district reviews, an outbox
message, a webhook endpoint and an API token per user. Object ids are kept in ``World.ids``.
"""

from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import SQLModel

from models import (
    DistrictReview,
    OutboxMessage,
    User,
    WebhookEndpoint,
    utcnow,
)
from models.db import db
from tests.factories import (
    csrf_from,
    login,
    make_api_token,
    make_district,
    make_list,
    make_partner,
    make_registration,
    make_ticket,
    make_user,
)

ROLES: tuple[str, ...] = ("partner", "mcs", "reviewer", "admin")


@dataclass
class World:
    """Ids, e-mail addresses and bearer tokens of everything build_world made."""

    ids: dict[str, int] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, int] = field(default_factory=dict)
    user_ids: dict[str, int] = field(default_factory=dict)


def add_token(user: User) -> tuple[int, str]:
    """Create an API token for a user; return its id and secret."""
    row, secret = make_api_token(user)
    assert row.id is not None
    return row.id, secret


def build_world(app: Flask) -> World:
    """Create the world in the database (committed) and return its handles."""
    w = World()
    with app.app_context():
        make_district("northeast", "east")
        make_district("west", "west")
        org_a, org_b = make_partner("Org A"), make_partner("Org B")
        users = {
            "partner": make_user("partner", partner_id=org_a.id),
            "partner_b": make_user("partner", partner_id=org_b.id),
            "mcs": make_user("mcs"),
            "mcs_other": make_user("mcs"),
            "reviewer": make_user("reviewer", level=1, districts=["northeast"]),
            "reviewer_west": make_user("reviewer", level=1, districts=["west"]),
            "admin": make_user("admin"),
        }
        draft = make_list([{"name": "Draft Account", "district": "west"}], status="draft")
        published = make_list([{"name": "Listed Account", "district": "northeast"}])
        reg_a = make_registration(users["partner"], district="northeast", status="approved")
        reg_a.expires_at = utcnow() + timedelta(days=60)
        reg_b = make_registration(users["partner_b"], district="west", status="in_conflict")
        reg_mcs = make_registration(users["mcs"], district="northeast", status="approved")
        reg_mcs_other = make_registration(users["mcs_other"], district="west")
        ticket_a = make_ticket(
            reg_a, district="northeast", mcs_owner_email=users["mcs"].email.lower()
        )
        ticket_b = make_ticket(reg_b, district="west")
        review_ne = DistrictReview(
            list_id=published.id, district="northeast", due_at=utcnow() + timedelta(days=30)
        )
        review_w = DistrictReview(
            list_id=published.id, district="west", due_at=utcnow() + timedelta(days=30)
        )
        endpoint = WebhookEndpoint(url="https://hooks.example.com/cg", secret="s" * 32)
        dead = OutboxMessage(
            event="test.dead",
            message_id="<dead-1@channelguard.test>",
            recipient="someone@example.com",
            subject="dead letter",
            template="generic",
            status="dead",
        )
        db.session.add_all([review_ne, review_w, endpoint, dead])
        db.session.flush()
        for name, user in users.items():
            token_id, secret = add_token(user)
            w.tokens[name], w.token_ids[name] = secret, token_id
            w.emails[name] = user.email
            assert user.id is not None
            w.user_ids[name] = user.id
        for name, obj in {
            "org_a": org_a,
            "org_b": org_b,
            "draft_list": draft,
            "published_list": published,
            "reg_a": reg_a,
            "reg_b": reg_b,
            "reg_mcs": reg_mcs,
            "reg_mcs_other": reg_mcs_other,
            "ticket_a": ticket_a,
            "ticket_b": ticket_b,
            "review_ne": review_ne,
            "review_w": review_w,
            "endpoint": endpoint,
            "dead_message": dead,
        }.items():
            w.ids[name] = obj.id  # type: ignore[attr-defined]
        db.session.commit()
    return w


def signed_in(app: Flask, email: str, *, base_url: str = "http://localhost") -> FlaskClient:
    """Return a test client signed in through the real form."""
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = base_url.split(":", 1)[0]
    resp = login(client, email)
    assert resp.status_code == 302, f"sign-in of {email} failed: {resp.status_code}"
    return client


def clone_client(app: Flask, source: FlaskClient) -> FlaskClient:
    """Return a new client that carries the source client's session cookie."""
    client = app.test_client()
    cookie = source.get_cookie("session")
    if cookie is not None:
        client.set_cookie("session", cookie.value)
    return client


def page_token(client: FlaskClient, path: str = "/profile") -> str:
    """Return the CSRF token of the client's session, read from a page with a form."""
    return csrf_from(client.get(path).get_data(as_text=True))


def row_counts(app: Flask) -> dict[str, int]:
    """Return the number of rows in every table."""
    with app.app_context():
        out = {}
        for table in SQLModel.metadata.sorted_tables:
            out[table.name] = db.session.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
        db.session.remove()
        return out
