"""Who may use which route: the expected access of every endpoint, and the cases derived from it.

``ALLOWED`` classifies every endpoint of the app (a test fails when a route is added without
being classified here). ``cases()`` turns it into concrete requests for one role: each route
with its parameters filled from the role's own objects and, where the role has them, from
objects of the other side of a boundary (another partner's registration, a ticket of another
district), together with the outcome the rules of §1 demand.
"""

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.security.world import ROLES, World

ANON = "anonymous"
ALL = frozenset(ROLES)
STAFF = frozenset({"reviewer", "admin"})
WRITERS = frozenset({"partner", "mcs", "admin"})
ADMIN = frozenset({"admin"})
PUBLIC = None

# endpoint -> roles that may use it (None: anyone, signed in or not).
ALLOWED: dict[str, frozenset[str] | None] = {
    "static": PUBLIC,
    "health.healthz": PUBLIC,
    "openapi": PUBLIC,
    "openapi_apidoc": PUBLIC,
    "auth.login": PUBLIC,
    "home.index": ALL,
    "auth.logout": ALL,
    "admin.index": ADMIN,
    "admin.partners": ADMIN,
    "admin.new_partner": ADMIN,
    "admin.edit_partner": ADMIN,
    "admin.policy": ADMIN,
    "admin.policy_save": ADMIN,
    "admin.users": ADMIN,
    "admin.new_user": ADMIN,
    "admin.edit_user": ADMIN,
    "admin.user_active": ADMIN,
    "admin.user_password": ADMIN,
    "admin.user_tickets": ADMIN,
    "conflict.extension": WRITERS,
    "conflict.new_registration": WRITERS,
    "conflict.override": frozenset({"mcs", "admin"}),
    "conflict.precheck": WRITERS,
    "conflict.registration_detail": ALL,
    "conflict.registrations": WRITERS,
    "conflict.registrations_csv": WRITERS,
    "conflict.withdraw": WRITERS,
    "dpor.credit_for_customer": STAFF,
    "dpor.credit_for_registration": STAFF,
    "dpor.customer": STAFF,
    "dpor.designate_for_customer": STAFF,
    "dpor.designate_for_registration": STAFF,
    "dpor.partner_credits": frozenset({"partner", "reviewer", "admin"}),
    "escalation.assign_ticket": STAFF,
    "escalation.claim_ticket": STAFF,
    "escalation.comment_ticket": ALL,
    "escalation.dashboard": STAFF,
    "escalation.dashboard_csv": STAFF,
    "escalation.decide_ticket": STAFF,
    "escalation.escalate_ticket": STAFF,
    "escalation.queue": STAFF,
    "escalation.queue_action": STAFF,
    "escalation.release_ticket": STAFF,
    "escalation.reopen_ticket": STAFF,
    "escalation.ticket_detail": ALL,
    "lists.account_lookup": ALL,
    "lists.index": ADMIN,
    "lists.publish_version": ADMIN,
    "lists.review": STAFF,
    "lists.reviews": STAFF,
    "lists.version": ADMIN,
    "ops.jobs": ADMIN,
    "ops.outbox": ADMIN,
    "ops.retry": ADMIN,
    "ops.run_now": ADMIN,
    "ops.webhook_toggle": ADMIN,
    "ops.webhooks": ADMIN,
    "profile.create": ALL,
    "profile.index": ALL,
    "profile.notifications": ALL,
    "profile.password": ALL,
    "profile.revoke": ALL,
    "api.conflict_check": WRITERS,
    "api.create_registration": WRITERS,
    "api.list_registrations": WRITERS,
    "api.get_registration": ALL,
    "api.list_tickets": ALL,
    "api.get_ticket": ALL,
    "api.decide_ticket": STAFF,
    "api.list_versions": ADMIN,
    "api.upload_list": ADMIN,
}

# Query strings some pages need to do their real work.
QUERY: dict[str, str] = {
    "escalation.dashboard_csv": "chart={chart}",
    "dpor.customer": "name=Customer",
    "lists.account_lookup": "q=Listed+Account",
}

REGISTRATION_BODY: dict[str, Any] = {
    "customer_name": "Matrix Customer",
    "district": "northeast",
    "pc_count": 300,
    "workloads": ["exchange"],
}
DECISION_BODY = {"resolution": "partner_leads", "rationale": "Decided by the access matrix."}
LIST_CSV = b"name,domain,district\nUploaded Account,uploaded.example.com,northeast\n"


@dataclass(frozen=True)
class Case:
    """One request and the outcome expected from it."""

    endpoint: str
    method: str
    url: str
    variant: str  # "own" (objects the role may reach) or "foreign" (the other side's)
    expect: str  # "ok", "login", "401", "403" or "404"

    def label(self, role: str) -> str:
        """Describe the case for a failure message."""
        return f"{role:<9} {self.method:<4} {self.url} [{self.variant}] expected {self.expect}"


def params_for(world: World, role: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the URL parameters of a role's own objects and of objects beyond its reach."""
    ids = world.ids
    base: dict[str, Any] = {
        "reg_id": ids["reg_a"],
        "ticket_id": ids["ticket_a"],
        "partner_id": ids["org_a"],
        "list_id": ids["draft_list"],
        "review_id": ids["review_ne"],
        "message_id": ids["dead_message"],
        "endpoint_id": ids["endpoint"],
        "action": "disable",
        "name": "prune_history",
        "filename": "css/app.css",
        "token_id": world.token_ids.get(role, world.token_ids["admin"]),
        # The cases post no field values, so the account pages refuse them and change nothing.
        "user_id": world.user_ids["partner_b"],
    }
    foreign: dict[str, Any] = {"token_id": world.token_ids["partner_b"]}
    if role == "partner":
        foreign |= {
            "reg_id": ids["reg_b"],
            "ticket_id": ids["ticket_b"],
            "partner_id": ids["org_b"],
        }
    elif role == "mcs":
        base |= {"reg_id": ids["reg_mcs"]}
        foreign |= {"reg_id": ids["reg_b"], "ticket_id": ids["ticket_b"]}
    elif role == "reviewer":
        foreign |= {"ticket_id": ids["ticket_b"], "review_id": ids["review_w"]}
    elif role == ANON:
        foreign = {}
    return base, foreign


def expected(endpoint: str, method: str, role: str, variant: str, foreign_params: set[str]) -> str:
    """Return the outcome class the access rules demand."""
    api = endpoint.startswith("api.")
    allowed = ALLOWED[endpoint]
    if endpoint == "auth.logout" and role != ANON:
        return "login"  # signing out lands on the sign-in page
    if role == ANON:
        if allowed is PUBLIC:
            return "ok"
        return "401" if api else "login"
    if api and variant == "foreign":
        # The API looks the object up first: one the caller may not see does not exist.
        return "404"
    if allowed is not PUBLIC and role not in allowed:
        # Partners must not learn that other areas exist; staff get an honest 403.
        return "404" if role == "partner" else "403"
    if variant == "foreign":
        if role in ("partner", "mcs") or foreign_params == {"token_id"}:
            return "404"
        return "403"
    return "ok"


def cases(app: Flask, world: World, role: str) -> Iterator[Case]:
    """Yield every route and method for a role, GETs first and signing out last."""
    from escalation.dashboard import CHART_KEYS

    own, foreign = params_for(world, role)
    adapter = app.url_map.bind("localhost")
    found: list[Case] = []
    for rule in app.url_map.iter_rules():
        assert rule.endpoint in ALLOWED, f"route {rule.rule} ({rule.endpoint}) is not classified"
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            query = QUERY.get(rule.endpoint, "").format(chart=CHART_KEYS[0])
            variants = [("own", own)]
            touched = set(rule.arguments) & set(foreign)
            if touched:
                variants.append(("foreign", own | {k: foreign[k] for k in touched}))
            for variant, values in variants:
                args = {arg: values[arg] for arg in rule.arguments}
                url = adapter.build(rule.endpoint, args, method=method)
                url += f"?{query}" if query else ""
                exp = expected(rule.endpoint, method, role, variant, touched)
                found.append(Case(rule.endpoint, method, url, variant, exp))
    found.sort(key=lambda c: (c.endpoint == "auth.logout", c.method != "GET", c.url))
    yield from found


def classify(resp: TestResponse) -> str:
    """Return the outcome class of a response."""
    if resp.status_code >= 500:
        return f"{resp.status_code}"
    if resp.status_code in (301, 302, 303, 307, 308):
        target = urlsplit(resp.headers.get("Location", ""))
        if target.path == "/login":
            return "login"
        return "ok"
    if resp.status_code in (401, 403, 404):
        return str(resp.status_code)
    return "ok"


def send(client: FlaskClient, case: Case, *, csrf: str | None, token: str | None) -> TestResponse:
    """Send a case's request the way its client would: a form with CSRF, or the JSON API."""
    if case.endpoint.startswith("api."):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if case.method == "GET":
            return client.get(case.url, headers=headers)
        if case.endpoint == "api.upload_list":
            data = {"file": (io.BytesIO(LIST_CSV), "accounts.csv")}
            return client.post(case.url, headers=headers, data=data)
        body = DECISION_BODY if case.endpoint == "api.decide_ticket" else REGISTRATION_BODY
        return client.post(case.url, headers=headers, json=body)
    if case.method == "GET":
        return client.get(case.url)
    if case.endpoint == "conflict.precheck":
        return client.post(case.url, json={"customer_name": "Matrix"}, headers=_csrf_header(csrf))
    return client.post(case.url, data={"csrf_token": csrf} if csrf else {})


def _csrf_header(csrf: str | None) -> dict[str, str]:
    return {"X-CSRFToken": csrf} if csrf else {}
