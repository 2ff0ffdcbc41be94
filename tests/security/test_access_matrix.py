"""Every route and method, for every role and for anonymous callers, against the access rules.

The routes come from ``app.url_map``, so a new route that nobody classified in
``tests/security/access.py`` fails the matrix. Partners get 404 on other partners' objects and on
staff areas; MCS sellers see only their own engagements and the conflicts they are party to;
a level-1 reviewer works only tickets and reviews of their district; anonymous callers are sent
to /login (pages) or get 401 (API); nobody gets a 5xx. A second pass proves that no GET changes
the database.
"""

import hashlib

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import SQLModel

from models.db import db
from tests.factories import csrf_from
from tests.security.access import ALLOWED, ANON, cases, classify, send
from tests.security.world import ROLES, build_world, clone_client, page_token, signed_in

# Columns a read legitimately touches: a bearer token records when it was last used.
VOLATILE = {("api_token", "last_used_at")}


def _client(app: Flask, role: str, email: str | None) -> tuple[FlaskClient, str]:
    """Return a client for the role and the CSRF token of its session."""
    if role == ANON:
        client = app.test_client()
        return client, csrf_from(client.get("/login").get_data(as_text=True))
    assert email is not None
    client = signed_in(app, email)
    return client, page_token(client)


def test_every_route_is_classified(app: Flask) -> None:
    """The matrix covers the app's routes exactly: none missing, none stale."""
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints == set(ALLOWED), (endpoints ^ set(ALLOWED)) or "ok"


@pytest.mark.parametrize("role", [ANON, *ROLES])
def test_access_matrix(app: Flask, role: str) -> None:
    """Each route answers each role as the access rules say."""
    world = build_world(app)
    email = world.emails.get(role)
    client, csrf = _client(app, role, email)
    token = world.tokens.get(role)
    wrong: list[str] = []
    checked = 0
    for case in cases(app, world, role):
        if case.endpoint == "auth.logout" and role != ANON:
            # Signing out revokes the session; use a session of its own for it.
            client, csrf = _client(app, role, email)
        resp = send(clone_client(app, client), case, csrf=csrf, token=token)
        got = classify(resp)
        checked += 1
        if got != case.expect:
            wrong.append(f"{case.label(role)}, got {resp.status_code} ({got})")
    assert checked > 60
    assert not wrong, "\n" + "\n".join(wrong)


def _snapshot(app: Flask) -> dict[str, str]:
    """Return a digest of every table's content (volatile columns left out)."""
    out: dict[str, str] = {}
    with app.app_context():
        for table in SQLModel.metadata.sorted_tables:
            cols = [c for c in table.columns if (table.name, c.name) not in VOLATILE]
            pk = list(table.primary_key.columns) or cols[:1]
            rows = db.session.execute(sa.select(*cols).order_by(*pk)).all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            out[table.name] = f"{len(rows)}:{digest[:16]}"
        db.session.remove()
    return out


@pytest.mark.parametrize("role", [ANON, *ROLES])
def test_no_get_changes_the_database(app: Flask, role: str) -> None:
    """Every GET route, own and foreign objects alike, leaves every table as it was."""
    world = build_world(app)
    client, _csrf = _client(app, role, world.emails.get(role))
    token = world.tokens.get(role)
    before = _snapshot(app)
    changed: list[str] = []
    gets = [c for c in cases(app, world, role) if c.method == "GET"]
    for case in gets:
        resp = send(clone_client(app, client), case, csrf=None, token=token)
        assert resp.status_code < 500, case.label(role)
        after = _snapshot(app)
        diff = sorted(t for t in after if after[t] != before[t])
        if diff:
            changed.append(f"GET {case.url} changed {', '.join(diff)}")
        before = after
    assert len(gets) > 25
    assert not changed, "\n" + "\n".join(changed)
