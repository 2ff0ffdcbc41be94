"""Shared set-up and the "nothing half-made" invariants that every reliability test checks."""

from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask

from models import AuditEvent, ConflictFinding, OutboxMessage, Registration, Ticket
from models.db import db
from models.policy import active_policy
from tests.factories import make_district, make_list, make_partner, make_user
from tests.security.world import add_token

WORKLOAD = "exchange"


@dataclass(frozen=True)
class Partners:
    """Partner users with bearer tokens, made for a test."""

    user_ids: list[int]
    tokens: list[str]


def make_partners(app: Flask, n: int, *, policy: bool = True) -> Partners:
    """Create a district with a reviewer, a published list, and n partner users with tokens.

    With policy, the default policy version is created too, as the first use of a database
    does; without it the database is as fresh as after the migrations.
    """
    with app.app_context():
        if policy:
            active_policy(db.session)
        make_district("northeast", "east")
        make_user("reviewer", level=1, districts=["northeast"])
        make_list([{"name": "Unrelated Listed Account", "district": "northeast"}])
        user_ids, tokens = [], []
        for i in range(n):
            user = make_user("partner", partner_id=make_partner(f"Load Partner {i}").id)
            assert user.id is not None
            user_ids.append(user.id)
            tokens.append(add_token(user)[1])
        db.session.commit()
    return Partners(user_ids, tokens)


def registration_body(customer: str, **extra: object) -> dict[str, object]:
    """Return an API body for a partner deal on one customer and workload."""
    return {
        "customer_name": customer,
        "district": "northeast",
        "pc_count": 1500,
        "workloads": [WORKLOAD],
        "solution_stack": "all_microsoft",
        **extra,
    }


def half_made(app: Flask) -> list[str]:
    """Return every way a registration was left incomplete (empty when all are whole).

    A whole registration has its audit event and its receipt e-mail in the outbox; when in
    conflict, at least one active finding that opens a ticket and exactly one open ticket per
    such rule, each linked from its finding; when approved, no conflict finding at all.
    """
    problems: list[str] = []
    with app.app_context():
        sess = db.session
        regs = sess.execute(sa.select(Registration)).scalars().all()
        findings: dict[int, list[ConflictFinding]] = defaultdict(list)
        for f in sess.execute(sa.select(ConflictFinding)).scalars():
            findings[f.registration_id].append(f)
        tickets: dict[int, list[Ticket]] = defaultdict(list)
        for t in sess.execute(sa.select(Ticket)).scalars():
            tickets[t.registration_id].append(t)
        audited = set(
            sess.execute(
                sa.select(AuditEvent.object_id).where(AuditEvent.action == "registration.submitted")
            ).scalars()
        )
        receipts: dict[int, int] = defaultdict(int)
        for ctx in sess.execute(
            sa.select(OutboxMessage.context).where(OutboxMessage.event == "registration.received")
        ).scalars():
            receipts[int((ctx or {}).get("registration_id") or 0)] += 1
        for reg in regs:
            rid = reg.id or 0
            mine = findings[rid]
            open_tickets = [t for t in tickets[rid] if t.status != "decided"]
            if str(rid) not in audited:
                problems.append(f"registration {rid}: no audit event")
            if receipts[rid] != 1:
                problems.append(f"registration {rid}: {receipts[rid]} receipt e-mails")
            if reg.status == "in_conflict":
                rules = {f.rule for f in mine if f.severity == "conflict"}
                if not rules:
                    problems.append(f"registration {rid}: in conflict without a finding")
                for rule in rules:
                    n = sum(1 for t in open_tickets if t.rule == rule)
                    if n != 1:
                        problems.append(f"registration {rid}: {n} open {rule} tickets")
                linked = {f.ticket_id for f in mine if f.rule in rules}
                if None in linked:
                    problems.append(f"registration {rid}: a finding without its ticket")
            elif reg.status == "approved" and (
                any(f.severity == "conflict" for f in mine) or open_tickets
            ):
                problems.append(f"registration {rid}: approved with a conflict")
        sess.remove()
    return problems
