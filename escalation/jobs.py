"""The scheduled jobs, declared as data, and the runner that records every run.

Each job is a plain function ``fn(sess, now) -> int`` (items done) named by an import string,
so a module that fails to import breaks only its own job, and the failure is recorded in
``job_run`` like any other error. Every job is level-triggered and idempotent: it looks for work
that is due *now* in the database and claims it, so a run missed while the app was down is
caught up by the next one, and two scheduler processes never do one item twice.
"""

import importlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from models import JobRun, JobState, OutboxMessage, utcnow
from models.db import db, is_postgres, write_intent

log = logging.getLogger(__name__)

JobFunction = Callable[[Session, datetime], int]

HISTORY_DAYS = 14
SENT_OUTBOX_DAYS = 90


def worker_name() -> str:
    """Return this process as runs record it: host name and process id."""
    # Read at each run, not at import: gunicorn and the scheduler fork after importing, and two
    # scheduler processes on one machine must be told apart on the jobs page.
    return f"{socket.gethostname()}:{os.getpid()}"[:200]


@dataclass(frozen=True)
class Every:
    """Run at a fixed interval."""

    seconds: int

    def describe(self) -> str:
        """Say how often the job runs."""
        if self.seconds % 3600 == 0:
            return f"every {self.seconds // 3600} h"
        if self.seconds % 60 == 0:
            return f"every {self.seconds // 60} min"
        return f"every {self.seconds} s"


@dataclass(frozen=True)
class Daily:
    """Run once a day at a UTC time."""

    hour: int
    minute: int = 0

    def describe(self) -> str:
        """Say when the job runs."""
        return f"daily at {self.hour:02d}:{self.minute:02d} UTC"


Trigger = Every | Daily


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: what to call, when, and what it is for."""

    name: str
    target: str  # "package.module:function"
    trigger: Trigger
    description: str


def _spec(name: str, target: str, trigger: Trigger, description: str) -> tuple[str, JobSpec]:
    return name, JobSpec(name, target, trigger, description)


JOBS: dict[str, JobSpec] = dict(
    [
        _spec(
            "route_exceptions",
            "escalation.service:route_exceptions",
            Every(60),
            "Route exception cases (early .NET deals) to reviewers, balanced by open work.",
        ),
        _spec(
            "warn_due_soon",
            "escalation.service:warn_due_soon",
            Every(300),
            "Warn ticket owners whose SLA is about to run out.",
        ),
        _spec(
            "escalate_overdue",
            "escalation.sweep:escalate_overdue",
            Every(60),
            "Escalate tickets past their SLA one level and tell the new owners.",
        ),
        _spec(
            "expire_registrations",
            "conflict.registrations:expire_registrations",
            Every(3600),
            "Expire approved registrations whose lifetime has run out.",
        ),
        _spec(
            "send_expiry_reminders",
            "conflict.registrations:send_expiry_reminders",
            Every(3600),
            "Remind partners of registrations that expire soon.",
        ),
        _spec(
            "deliver_outbox",
            "escalation.mailer:deliver_outbox",
            Every(20),
            "Send queued e-mail over SMTP, with retries and a dead-letter state.",
        ),
        _spec(
            "deliver_webhooks",
            "escalation.webhooks:deliver_webhooks",
            Every(20),
            "Post queued events to webhook endpoints, signed, with retries.",
        ),
        _spec(
            "sync_named_accounts",
            "conflict.lists:sync_named_accounts",
            Every(3600),
            "Fetch the published named-account list from NAMED_ACCOUNTS_URL when it changed.",
        ),
        _spec(
            "open_district_reviews",
            "conflict.lists:open_district_reviews",
            Daily(5),
            "Open the semi-annual district reviews of the named-account list when due.",
        ),
        _spec(
            "send_digests",
            "escalation.notify:send_digests",
            Daily(7),
            "Bundle held notifications into one daily digest per reader.",
        ),
        _spec(
            "prune_history",
            "escalation.jobs:prune_history",
            Daily(3),
            f"Delete job runs older than {HISTORY_DAYS} days and sent messages older than "
            f"{SENT_OUTBOX_DAYS} days.",
        ),
    ]
)


class UnknownJob(KeyError):
    """No job of that name is declared."""


def resolve(target: str) -> JobFunction:
    """Import "module:function" and return the function."""
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ValueError(f"bad job target {target!r}; expected 'module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImportError(f"cannot import {module_name} for {target}: {exc}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise AttributeError(f"{module_name} has no function {attr!r} (job target {target})")
    return fn  # type: ignore[no-any-return]


def touch_state(sess: Session, name: str, when: datetime, *, success: bool) -> None:
    """Record a job's last run (and success) in one statement that tolerates concurrent writers."""
    host = worker_name()
    values = {"name": name, "last_run_at": when, "host": host}
    updates = {"last_run_at": when, "host": host}
    if success:
        values["last_success_at"] = when
        updates["last_success_at"] = when
    table = JobState.__table__
    if is_postgres(sess):
        pg = pg_insert(table).values(**values)
        sess.execute(pg.on_conflict_do_update(index_elements=["name"], set_=updates))
    elif sess.get_bind().dialect.name == "sqlite":
        lite = sqlite_insert(table).values(**values)
        sess.execute(lite.on_conflict_do_update(index_elements=["name"], set_=updates))
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        state = sess.get(JobState, name) or JobState(name=name)
        for key, value in values.items():
            setattr(state, key, value)
        sess.add(state)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:4000]


def run_job(app: Flask | None, name: str, now: datetime | None = None) -> JobRun:
    """Run one job in its own app context and session, and record the run.

    The job's own work is committed once at the end (delivery jobs also commit each claim
    before they send). A failure is logged, rolled back and recorded; it never propagates, so
    a scheduler thread keeps running.
    """
    spec = JOBS.get(name)
    if spec is None:
        raise UnknownJob(name)
    flask_app = app if app is not None else current_app._get_current_object()  # type: ignore[attr-defined]
    with flask_app.app_context():
        sess = db.session
        try:
            return _run(sess, spec, now)
        finally:
            db.session.remove()


def _run(sess: Session, spec: JobSpec, now: datetime | None) -> JobRun:
    # Every transaction of a job writes; on SQLite take the write lock at BEGIN so that
    # concurrent jobs and requests queue instead of failing on a lock upgrade.
    with write_intent():
        run = JobRun(job=spec.name, started_at=utcnow(), host=worker_name())
        sess.add(run)
        sess.commit()
        run_id = run.id
        items = 0
        error: str | None = None
        try:
            fn = resolve(spec.target)
            items = int(fn(sess, now or utcnow()) or 0)
            sess.commit()
        except Exception as exc:
            log.exception("job %s failed", spec.name)
            sess.rollback()
            error = _describe(exc)
        finished = utcnow()
        try:
            recorded = sess.get(JobRun, run_id)
            if recorded is None:  # the row was pruned while we ran
                recorded = JobRun(job=spec.name, started_at=finished, host=worker_name())
                sess.add(recorded)
            recorded.finished_at = finished
            recorded.items = items
            recorded.error = error
            touch_state(sess, spec.name, finished, success=error is None)
            sess.commit()
            sess.refresh(recorded)
        except Exception:
            log.exception("could not record the run of job %s", spec.name)
            sess.rollback()
            recorded = JobRun(
                id=run_id,
                job=spec.name,
                started_at=finished,
                finished_at=finished,
                items=items,
                error=error,
                host=worker_name(),
            )
            return recorded
    if error is None:
        # Frequent jobs usually find nothing to do; only real work is worth an INFO line.
        log.log(logging.INFO if items else logging.DEBUG, "job %s done: %d items", spec.name, items)
    sess.expunge(recorded)
    return recorded


def prune_history(sess: Session, now: datetime) -> int:
    """Delete old job runs and long-delivered outbox messages; return rows deleted."""
    runs = sess.execute(
        sa.delete(JobRun).where(JobRun.started_at < now - timedelta(days=HISTORY_DAYS))
    )
    sent = sess.execute(
        sa.delete(OutboxMessage).where(
            OutboxMessage.status == "sent",
            OutboxMessage.sent_at < now - timedelta(days=SENT_OUTBOX_DAYS),
        )
    )
    return int(getattr(runs, "rowcount", 0) or 0) + int(getattr(sent, "rowcount", 0) or 0)
