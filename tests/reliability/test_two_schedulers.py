"""Two scheduler processes on one database: each due item is done exactly once.

Each test starts ``flask --app app jobs run NAME`` twice, as two processes of their own on the
test database, and checks the outcome row by row. On PostgreSQL the sweep test makes the two
overlap for certain: the first is held at its audit record (the last thing it writes, after it
claimed and changed the tickets) while the second runs from start to end.
"""

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from subprocess import Popen

import pytest
import sqlalchemy as sa
from flask import Flask

from models import JobRun
from models.db import db
from tests.dbutil import is_postgres_url
from tests.reliability.job_world import (
    audit_held,
    job_process,
    levels_and_events,
    named_url,
    overdue_tickets,
    queue_messages,
    statuses,
)
from tests.reliability.servers import SmtpSink, stop_process

pytestmark = pytest.mark.slow

TICKETS = 3000
MESSAGES = 240
FIRST = "cg-first-scheduler"


def _runs(app: Flask, job: str) -> list[JobRun]:
    with app.app_context():
        runs = list(
            db.session.execute(sa.select(JobRun).where(JobRun.job == job).order_by(JobRun.id))
            .scalars()
            .all()
        )
        db.session.expunge_all()
        db.session.remove()
    return runs


def _wait(ready: Callable[[], bool], proc: Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"the first process ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def _held_with_claims(app: Flask) -> bool:
    """Return True while the first process's sweep has changed tickets and waits on the lock."""
    with app.app_context():
        held = db.session.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                "AND backend_xid IS NOT NULL AND wait_event_type = 'Lock'"
            ),
            {"name": FIRST},
        ).scalar_one()
        db.session.remove()
    return bool(held)


def test_two_sweeps_at_once_move_each_ticket_once(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    """Whichever sweep claims the overdue tickets moves each one level, with one timeline event;
    the other, running while those claims are held, skips them and moves none."""
    overdue_tickets(app, TICKETS)
    log = tmp_path / "jobs.log"
    postgres = is_postgres_url(database_url)
    with audit_held(database_url):
        first = job_process("escalate_overdue", named_url(database_url, FIRST), log)
        try:
            if postgres:
                _wait(lambda: _held_with_claims(app), first, "its sweep held claims")
            second = job_process("escalate_overdue", database_url, log)
            try:
                assert second.wait(timeout=120) == 0, log.read_text()[-3000:]
            finally:
                stop_process(second)
            if postgres:
                assert first.poll() is None, "the first sweep should still be held"
                assert levels_and_events(app)[0] == Counter({1: TICKETS})
        except BaseException:
            stop_process(first)
            raise
    try:
        assert first.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        stop_process(first)

    levels, events = levels_and_events(app)
    assert levels == Counter({2: TICKETS}), levels
    assert len(events) == TICKETS and set(events.values()) == {1}
    runs = _runs(app, "escalate_overdue")
    assert [r.error for r in runs] == [None, None]
    assert sorted(r.items for r in runs) == [0, TICKETS]
    assert len({r.host for r in runs}) == 2, "each run names its own process"


def test_two_outbox_workers_send_each_message_once(
    app: Flask, database_url: str, tmp_path: Path
) -> None:
    """Two delivery processes started together share the queue: both send, and every message
    arrives exactly once and is marked sent once."""
    expected = queue_messages(app, MESSAGES)
    with SmtpSink(delay=0.02) as smtp:
        env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port)}
        log = tmp_path / "jobs.log"
        procs = [job_process("deliver_outbox", database_url, log, env) for _ in range(2)]
        try:
            for proc in procs:
                assert proc.wait(timeout=180) == 0, log.read_text()[-3000:]
        finally:
            for proc in procs:
                stop_process(proc)
        received = Counter(smtp.received())

    assert set(received) == expected, "a message was lost"
    assert max(received.values()) == 1, "a message was sent twice"
    assert statuses(app) == Counter({"sent": MESSAGES})
    runs = _runs(app, "deliver_outbox")
    assert [r.error for r in runs] == [None, None]
    assert sum(r.items for r in runs) == MESSAGES
    assert min(r.items for r in runs) > 0, "both processes should have sent a share"
    assert len({r.host for r in runs}) == 2, "each run names its own process"
