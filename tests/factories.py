"""Plain factory functions for test data (call inside an app context)."""

import itertools
from datetime import date, timedelta
from typing import Any

from flask.testing import FlaskClient

from models import (
    ApiToken,
    District,
    NamedAccount,
    NamedAccountList,
    Partner,
    Registration,
    Ticket,
    User,
    utcnow,
)
from models.db import db
from models.policy import active_policy
from web.passwords import hash_password, hash_token, new_token

PASSWORD = "correct horse battery"
_seq = itertools.count(1)
_PW_HASH: dict[str, str] = {}


def _pw(password: str) -> str:
    # Hashing is deliberately slow; tests reuse one hash per password.
    if password not in _PW_HASH:
        _PW_HASH[password] = hash_password(password)
    return _PW_HASH[password]


def make_district(code: str = "northeast", region: str = "east", **kw: Any) -> District:
    """Create a district (or return the existing one)."""
    existing = db.session.get(District, code)
    if existing:
        return existing
    kw.setdefault("name", code.replace("_", " ").title())
    d = District(code=code, region=region, **kw)
    db.session.add(d)
    db.session.flush()
    return d


def make_partner(name: str | None = None, points: int = 60, **kw: Any) -> Partner:
    """Create a partner organisation."""
    p = Partner(name=name or f"Partner {next(_seq)}", points=points, **kw)
    db.session.add(p)
    db.session.flush()
    return p


def make_user(
    role: str = "partner", *, email: str | None = None, password: str = PASSWORD, **kw: Any
) -> User:
    """Create a user; partners get an organisation and reviewers a level unless given."""
    if role == "partner" and "partner_id" not in kw:
        kw["partner_id"] = make_partner().id
    if role == "reviewer":
        kw.setdefault("level", 1)
        kw.setdefault("districts", ["northeast"])
    u = User(
        email=email or f"{role}{next(_seq)}@example.com",
        role=role,
        password_hash=_pw(password),
        **kw,
    )
    db.session.add(u)
    db.session.flush()
    return u


def make_api_token(user: User, name: str = "tests") -> tuple[ApiToken, str]:
    """Create a bearer token for a user; return the row and its secret."""
    secret = new_token()
    row = ApiToken(user_id=user.id, name=name, prefix=secret[:8], token_hash=hash_token(secret))
    db.session.add(row)
    db.session.flush()
    return row, secret


def make_list(accounts: list[dict[str, Any]], *, status: str = "published") -> NamedAccountList:
    """Create a named-account list version with the given accounts."""
    published = status != "draft"
    lst = NamedAccountList(
        label=f"List {next(_seq)}",
        status=status,
        content_hash=f"{next(_seq):064d}",
        effective_from=date.today() - timedelta(days=1) if published else None,
        published_at=utcnow() if published else None,
        account_count=len(accounts),
    )
    db.session.add(lst)
    db.session.flush()
    for i, acc in enumerate(accounts):
        data = {"account_id": f"A{i + 1}", "segment": "major", "pc_count": 10_000} | acc
        db.session.add(NamedAccount(list_id=lst.id, **data))
    db.session.flush()
    return lst


def make_registration(user: User, **kw: Any) -> Registration:
    """Create a registration row directly (bypassing the engine)."""
    policy = active_policy(db.session)
    data: dict[str, Any] = {
        "party": "mcs" if user.role == "mcs" else "partner",
        "partner_id": user.partner_id,
        "submitted_by_id": user.id,
        "customer_name": f"Customer {next(_seq)}",
        "status": "approved",
        "policy_version_id": policy.id,
        "workloads": ["exchange"],
    }
    data.update(kw)
    data.setdefault("customer_key", data["customer_name"].lower())
    reg = Registration(**data)
    db.session.add(reg)
    db.session.flush()
    return reg


def make_ticket(reg: Registration, **kw: Any) -> Ticket:
    """Create an open ticket for a registration."""
    data: dict[str, Any] = {
        "rule": "NAMED_ACCOUNT",
        "registration_id": reg.id,
        "partner_id": reg.partner_id,
        "district": reg.district or "northeast",
        "sla_due_at": utcnow() + timedelta(hours=8),
    }
    data.update(kw)
    t = Ticket(**data)
    db.session.add(t)
    db.session.flush()
    return t


def csrf_from(html: str) -> str:
    """Return the CSRF token embedded in a rendered form."""
    marker = 'name="csrf_token" type="hidden" value="'
    if marker not in html:
        marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> Any:
    """Sign in through the real form (CSRF included) and return the response."""
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def post_form(
    client: FlaskClient, form_url: str, data: dict[str, Any], action: str | None = None, **kw: Any
) -> Any:
    """GET a page, take its CSRF token, and POST data to the form's action."""
    page = client.get(form_url)
    token = csrf_from(page.get_data(as_text=True))
    return client.post(action or form_url, data={**data, "csrf_token": token}, **kw)
