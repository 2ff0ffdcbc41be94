"""Concurrent submissions on one customer yield exactly the conflicts the rules say (SPEC §8).

The requests go through the real HTTP layer (the JSON API, one Flask test client per thread),
not straight to the service: that layer is where a write request is marked to take SQLite's
write lock at BEGIN, where an idempotency race is caught on the unique constraint and replayed,
and where errors become status codes. What is proved is what a client sees.

N partners submit the same customer and workload, released together by a barrier. Because the
submissions are serialised per customer, each one sees all that committed before it: exactly
one (the first) is approved, and the k-th is in conflict with each of the k-1 before it, through
k-1 PARTNER_OVERLAP findings and one open ticket. Two submissions that ran side by side would
both see the same predecessors, and the counts 0..N-1 would not all appear.
"""

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from models import ConflictFinding, Registration, Ticket
from models.db import db
from tests.factories import csrf_from, login
from tests.reliability.invariants import half_made, make_partners, registration_body
from tests.security.world import clone_client

pytestmark = pytest.mark.slow

JOIN_TIMEOUT = 120.0


# Fifty partners at once, twenty times over, each round on a customer of its own. The k-th
# submission on one customer writes k-1 findings, so a round is O(N^2) work: about 3 s on
# PostgreSQL and 2 s on file SQLite.
PARTNERS = 50
ROUNDS = 20


def run_together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..n-1) on n threads released at the same instant; return results or errors."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except Exception as exc:  # reported by the caller, with the thread's index
            results[i] = exc

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + JOIN_TIMEOUT
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "submissions did not finish in time"
    return results


def _round(app: Flask, tokens: list[str], customer: str) -> list[str]:
    """Submit one customer from every partner at once; return what is wrong with the outcome."""
    n = len(tokens)

    def submit(i: int) -> tuple[int, Any]:
        resp = app.test_client().post(
            "/api/v1/registrations",
            headers={"Authorization": f"Bearer {tokens[i]}"},
            json=registration_body(customer),
        )
        return resp.status_code, resp.get_json()

    results = run_together(n, submit)
    problems = [
        f"thread {i}: {r!r}"[:300] for i, r in enumerate(results) if not isinstance(r, tuple)
    ]
    problems += [f"thread {i}: HTTP {r[0]}" for i, r in enumerate(results) if r and r[0] != 201]
    if problems:
        return problems
    ids = {r[1]["id"] for r in results}
    with app.app_context():
        sess = db.session
        regs = (
            sess.execute(
                sa.select(Registration)
                .where(Registration.id.in_(ids))
                .order_by(Registration.submitted_at, Registration.id)
            )
            .scalars()
            .all()
        )
        if len(regs) != n:
            return [f"{len(regs)} registrations for {n} submissions"]
        order = [r.id for r in regs]
        first, rest = regs[0], regs[1:]
        if first.status != "approved":
            problems.append(f"the first submission is {first.status}")
        for k, reg in enumerate(rest, start=1):
            findings = (
                sess.execute(
                    sa.select(ConflictFinding).where(ConflictFinding.registration_id == reg.id)
                )
                .scalars()
                .all()
            )
            tickets = (
                sess.execute(
                    sa.select(Ticket).where(
                        Ticket.registration_id == reg.id, Ticket.status != "decided"
                    )
                )
                .scalars()
                .all()
            )
            others = sorted(f.other_registration_id or 0 for f in findings)
            if reg.status != "in_conflict":
                problems.append(f"submission {k} is {reg.status}")
            if {f.rule for f in findings} != {"PARTNER_OVERLAP"}:
                problems.append(f"submission {k} has rules {sorted({f.rule for f in findings})}")
            if others != sorted(order[:k]):
                problems.append(f"submission {k} overlaps {len(others)} earlier ones, not {k}")
            leaders = {(f.evidence or {}).get("leader_registration_id") for f in findings}
            if leaders != {None} and not leaders <= set(order[:k]):
                problems.append(f"submission {k} claims priority over an earlier one")
            if len(tickets) != 1 or tickets[0].rule != "PARTNER_OVERLAP":
                problems.append(f"submission {k} has {len(tickets)} open tickets")
        sess.remove()
    return problems


def test_one_customer_many_partners_at_once(app: Flask) -> None:
    """Every round: one approved leader, all others in conflict with exactly their
    predecessors, each with one open ticket; no error, no 5xx, nothing half-made."""
    n, rounds = PARTNERS, ROUNDS
    partners = make_partners(app, n)
    started = time.monotonic()
    for r in range(rounds):
        problems = _round(app, partners.tokens, f"Barrier Holdings {r:02d}")
        assert not problems, f"round {r}:\n" + "\n".join(problems[:40])
    elapsed = time.monotonic() - started
    assert not half_made(app)
    with app.app_context():
        total = db.session.execute(sa.select(sa.func.count()).select_from(Registration)).scalar()
        assert total == rounds * n
    print(f"{rounds} rounds x {n} partners in {elapsed:.1f} s")


def test_first_submissions_on_a_fresh_database(app: Flask) -> None:
    """The very first submissions after installing, on different customers at once, all work."""
    partners = make_partners(app, 12, policy=False)

    def submit(i: int) -> int:
        resp = app.test_client().post(
            "/api/v1/registrations",
            headers={"Authorization": f"Bearer {partners.tokens[i]}"},
            json=registration_body(f"First Day Customer {i}"),
        )
        return resp.status_code

    results = run_together(12, submit)
    assert results == [201] * 12, results


def test_same_idempotency_key_at_once_makes_one_registration(app: Flask) -> None:
    """Ten identical API posts with one Idempotency-Key: one 201, nine replays of it."""
    partners = make_partners(app, 1)
    body = registration_body("Idempotent Industries")
    headers = {"Authorization": f"Bearer {partners.tokens[0]}", "Idempotency-Key": "key-123"}

    def post(_i: int) -> tuple[int, Any]:
        resp = app.test_client().post("/api/v1/registrations", headers=headers, json=body)
        return resp.status_code, resp.get_json()

    results = run_together(10, post)
    assert all(isinstance(r, tuple) for r in results), results
    statuses = sorted(r[0] for r in results)
    assert statuses == [200] * 9 + [201], statuses
    assert len({r[1]["id"] for r in results}) == 1
    with app.app_context():
        n = db.session.execute(sa.select(sa.func.count()).select_from(Registration)).scalar()
        assert n == 1
    assert not half_made(app)


def test_same_form_nonce_at_once_makes_one_registration(app: Flask) -> None:
    """One filled-in form posted ten times at once (same session, same nonce) registers once."""
    partners = make_partners(app, 1)
    with app.app_context():
        from models import User

        user = db.session.get(User, partners.user_ids[0])
        assert user is not None
        email = user.email
    client = app.test_client()
    assert login(client, email).status_code == 302
    page = client.get("/registrations/new").get_data(as_text=True)
    nonce_at = page.index('name="nonce"')
    nonce = page[page.index('value="', nonce_at) + 7 :].split('"', 1)[0]
    assert nonce
    data = {
        "csrf_token": csrf_from(page),
        "nonce": nonce,
        "customer_name": "Nonce Networks",
        "district": "northeast",
        "pc_count": "1500",
        "workloads": ["exchange"],
        "solution_stack": "all_microsoft",
    }

    def post(_i: int) -> tuple[int, str]:
        resp = clone_client(app, client).post("/registrations/new", data=data)
        return resp.status_code, resp.headers.get("Location", "")

    results = run_together(10, post)
    assert all(isinstance(r, tuple) for r in results), results
    assert {r[0] for r in results} == {303}, results
    assert len({r[1] for r in results}) == 1, results
    with app.app_context():
        n = db.session.execute(sa.select(sa.func.count()).select_from(Registration)).scalar()
        assert n == 1
    assert not half_made(app)
