"""A worker killed mid-request leaves nothing half-made, and a retry makes the submission once.

gunicorn serves the app with two sync workers on the test database (SQLite file or PostgreSQL).
Clients submit registrations as fast as the workers take them, on a few shared customers so
that conflicts, findings and tickets are written too, while a worker is SIGKILLed three times
or more, until a kill has cut a request off (gunicorn starts a new worker each time). A killed
worker's transaction must vanish whole: every stored registration has its findings, its
tickets, its audit event and its receipt e-mail.
Every submission that got no answer is retried with its Idempotency-Key and exists exactly once.
"""

import itertools
import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from models import Registration
from models.db import db
from tests.reliability.invariants import half_made, make_partners, registration_body
from tests.reliability.servers import gunicorn_server

pytestmark = pytest.mark.slow

CLIENTS = 6
KILLS = 3  # at least; more (up to MAX_KILLS) until a kill has cut a request off
MAX_KILLS = 10


def _submit(base: str, token: str, key: str, customer: str) -> int | str:
    try:
        resp = requests.post(
            f"{base}/api/v1/registrations",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            json=registration_body(customer),
            timeout=30,
        )
        return resp.status_code
    except requests.RequestException as exc:
        return type(exc).__name__


def _cut_off(results: dict[str, list[int | str]]) -> bool:
    """Return True once some request lost its connection (its worker died under it)."""
    return any(not isinstance(o, int) for tries in list(results.values()) for o in list(tries))


def test_killed_worker_leaves_nothing_half_made(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    """SIGKILL during a burst of submissions: no partial rows, every submission once."""
    partners = make_partners(app, CLIENTS)
    results: dict[str, list[int | str]] = {}
    submitted: dict[str, tuple[int, str]] = {}
    lock = threading.Lock()
    stop = threading.Event()
    counter = itertools.count()
    killed: list[int] = []
    env = {"API_RATE_LIMIT": "100000 per minute"}
    with gunicorn_server(database_url, tmp_path, workers=2, env=env) as server:

        def client(i: int) -> None:
            # Each partner registers each customer once (registering a deal it already holds
            # is refused); every partner goes through the same customers, so they conflict.
            for j in itertools.count():
                if stop.is_set():
                    return
                n = next(counter)
                key, customer = f"crash-{n}", f"Crash Customer {j}"
                with lock:
                    submitted[key] = (i, customer)
                outcome = _submit(server.url, partners.tokens[i], key, customer)
                with lock:
                    results.setdefault(key, []).append(outcome)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        rng = random.Random(7)
        try:
            while len(killed) < KILLS or (not _cut_off(results) and len(killed) < MAX_KILLS):
                time.sleep(0.8 + rng.random() * 0.4)
                workers = server.worker_pids()
                assert workers, "no worker to kill"
                victim = rng.choice(workers)
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
                # Let gunicorn notice and boot a replacement before the next kill.
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    alive = server.worker_pids()
                    if victim not in alive and len(alive) == 2:
                        break
                    time.sleep(0.05)
            time.sleep(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        assert not any(t.is_alive() for t in threads)
        # The service is whole again: every unanswered submission is retried with its key.
        for key, (i, customer) in sorted(submitted.items()):
            if not {200, 201} & set(results.get(key, [])):
                results[key].append(_submit(server.url, partners.tokens[i], key, customer))

    outcomes = [o for tries in results.values() for o in tries]
    broken = [o for o in outcomes if not isinstance(o, int)]
    assert broken, "no request was in flight when a worker died; the test proved nothing"
    assert not [o for o in outcomes if isinstance(o, int) and o >= 500], outcomes
    assert all({200, 201} & set(tries) for tries in results.values()), results
    with app.app_context():
        keys = db.session.execute(sa.select(Registration.idempotency_key)).scalars().all()
        conflicts = db.session.execute(
            sa.select(sa.func.count())
            .select_from(Registration)
            .where(Registration.status == "in_conflict")
        ).scalar_one()
        db.session.remove()
    assert sorted(keys) == sorted(submitted), "a submission was lost or made twice"
    assert conflicts > 0
    problems = half_made(app)
    assert not problems, "\n".join(problems[:20])
    print(
        f"{len(submitted)} submissions, {len(killed)} workers killed, "
        f"{len(broken)} requests cut off and retried"
    )
