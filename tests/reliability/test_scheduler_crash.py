"""A scheduler process killed mid-sweep: the next run finishes the work, nothing is done twice.

Each test starts ``flask --app app jobs run NAME`` as its own process on the test database,
SIGKILLs it once it is demonstrably inside its sweep, then runs the job again and checks the
outcome row by row.
"""

import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from escalation import claims
from escalation.jobs import run_job
from models import JobRun, OutboxMessage, utcnow
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

TICKETS = 6000
MESSAGES = 240
SWEEPER = "cg-crash-sweep"


def _started(app: Flask, name: str) -> bool:
    """Return True once a run of the job has recorded its start (and not its end)."""
    with app.app_context():
        found = db.session.execute(
            sa.select(sa.func.count())
            .select_from(JobRun)
            .where(JobRun.job == name, JobRun.finished_at.is_(None))
        ).scalar_one()
        db.session.remove()
    return bool(found)


def _kill_when(
    proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float = 60
) -> None:
    """SIGKILL the process (group) as soon as ready() holds; fail if it ends first."""
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "the job ended before it could be killed"
        assert time.monotonic() < deadline, "the job never reached the point to kill it at"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL


def _inside_sweep(app: Flask, database_url: str) -> bool:
    """Return True while the sweep's own transaction is open and has not committed.

    PostgreSQL: the job's backend holds a transaction id (it has changed tickets) and waits on
    the test's lock on audit_event. SQLite: someone holds the write lock (the job's BEGIN
    IMMEDIATE) after the run started. Either way no ticket may have moved yet in committed data.
    """
    if not _started(app, "escalate_overdue"):
        return False
    if is_postgres_url(database_url):
        with app.app_context():
            busy = db.session.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = :name AND backend_xid IS NOT NULL "
                    "AND wait_event_type = 'Lock'"
                ),
                {"name": SWEEPER},
            ).scalar_one()
            db.session.remove()
        if not busy:
            return False
    else:
        path = sa.engine.make_url(database_url).database
        probe = sqlite3.connect(str(path), timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            pass  # locked: a writer is inside its transaction
        finally:
            probe.close()
    levels, _ = levels_and_events(app)
    return set(levels) == {1}


def test_escalation_sweep_killed_midway(app: Flask, database_url: str, tmp_path: Path) -> None:
    """The sweep is one transaction: killed inside it, nothing moved; the next run moves every
    overdue ticket exactly one level, with one timeline event each; a third run finds nothing."""
    overdue_tickets(app, TICKETS)
    log = tmp_path / "jobs.log"
    with audit_held(database_url):
        proc = job_process("escalate_overdue", named_url(database_url, SWEEPER), log)
        try:
            _kill_when(proc, lambda: _inside_sweep(app, database_url))
        finally:
            stop_process(proc)
    levels, events = levels_and_events(app)
    assert levels == Counter({1: TICKETS}), f"a killed sweep left a partial result: {levels}"
    assert not events

    again = job_process("escalate_overdue", database_url, log)
    try:
        assert again.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        stop_process(again)
    levels, events = levels_and_events(app)
    assert levels == Counter({2: TICKETS}), levels
    assert len(events) == TICKETS and set(events.values()) == {1}

    third = job_process("escalate_overdue", database_url, log)
    try:
        assert third.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        stop_process(third)
    assert levels_and_events(app) == (levels, events)
    assert log.read_text().rstrip().endswith("escalate_overdue: 0 items")


def test_outbox_delivery_killed_midway(app: Flask, database_url: str, tmp_path: Path) -> None:
    """Killed while sending: what it sent stays sent, what it had claimed waits for its lease,
    and after the lease the next run sends the rest; only the message in flight at the moment
    of the kill may arrive twice, with the same Message-ID so receivers can drop it."""
    expected = queue_messages(app, MESSAGES)
    with SmtpSink(delay=0.015) as smtp:
        env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port)}
        log = tmp_path / "jobs.log"
        proc = job_process("deliver_outbox", database_url, log, env)
        try:
            _kill_when(proc, lambda: len(smtp.received()) >= MESSAGES // 4)
        finally:
            stop_process(proc)
        at_kill = Counter(smtp.received())
        state = statuses(app)
        assert 0 < state["sent"] < MESSAGES, state
        assert state["sending"] > 0, "the kill should leave a claimed batch behind"
        # Everything marked sent really went out; at most the one in flight went unmarked.
        assert len(at_kill) - state["sent"] in (0, 1)

        saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT")}
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=smtp.port)
        try:
            # While the dead worker's lease holds, its claimed rows are left alone.
            run_job(app, "deliver_outbox")
            assert statuses(app)["sending"] == state["sending"]
            # Once it has run out, they are claimed again and sent.
            later = utcnow() + claims.LEASE + timedelta(minutes=1)
            run = run_job(app, "deliver_outbox", now=later)
            assert run.error is None, run.error
        finally:
            app.config.update(saved)
        received = Counter(smtp.received())

    assert statuses(app) == Counter({"sent": MESSAGES})
    assert set(received) == expected, "a message was lost"
    twice = [mid for mid, n in received.items() if n > 1]
    assert len(twice) <= 1 and all(received[m] == 2 for m in twice), twice
    assert all(at_kill[m] == 1 for m in twice), "only a message sent before the kill may repeat"
    with app.app_context():
        attempts = db.session.execute(sa.select(OutboxMessage.attempts)).scalars().all()
        db.session.remove()
    # Claimed once by the killed run and once after its lease, at most.
    assert max(attempts) <= 2
