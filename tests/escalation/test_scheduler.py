"""The scheduler: every job declared, catch-up on start, heartbeat, and a short real run."""

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from escalation import scheduler
from escalation.jobs import JOBS, Daily, Every
from models import JobRun, JobState, utcnow
from models.db import db


def test_build_declares_heartbeat_and_every_job(app: Flask) -> None:
    before = utcnow()
    sched = scheduler.build_scheduler(app)
    assert isinstance(sched, BackgroundScheduler)
    declared = {job.id: job for job in sched.get_jobs()}
    assert set(declared) == {"heartbeat", *JOBS}
    for name, spec in JOBS.items():
        job = declared[name]
        assert job.args == (app, name)
        assert job.misfire_grace_time is None and job.coalesce and job.max_instances == 1
        # Catch-up: every job runs once as soon as the scheduler starts.
        assert before - timedelta(seconds=1) <= job.next_run_time <= utcnow()
        if isinstance(spec.trigger, Every):
            assert isinstance(job.trigger, IntervalTrigger)
            assert job.trigger.interval == timedelta(seconds=spec.trigger.seconds)
        else:
            assert isinstance(spec.trigger, Daily)
            assert isinstance(job.trigger, CronTrigger)
            fields = {f.name: str(f) for f in job.trigger.fields}
            assert fields["hour"] == str(spec.trigger.hour)
    beat = declared["heartbeat"]
    assert beat.trigger.interval == timedelta(seconds=scheduler.HEARTBEAT_SECONDS)
    assert not sched.running


def test_blocking_variant_for_its_own_process(app: Flask) -> None:
    sched = scheduler.build_scheduler(app, blocking=True, run_on_start=False)
    assert isinstance(sched, BlockingScheduler)
    assert {job.id for job in sched.get_jobs()} == {"heartbeat", *JOBS}


def test_not_started_by_the_test_app(app: Flask) -> None:
    assert "scheduler" not in app.extensions


def test_not_started_for_other_flask_commands(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    assert scheduler._started_by_cli_command()
    monkeypatch.setitem(app.config, "SCHEDULER_ENABLED", True)
    scheduler.init_app(app)
    assert "scheduler" not in app.extensions
    monkeypatch.delenv("FLASK_RUN_FROM_CLI")
    assert not scheduler._started_by_cli_command()


def test_heartbeat_feeds_healthz(app: Flask) -> None:
    scheduler.heartbeat(app)
    scheduler.heartbeat(app)  # the second beat updates the same row
    body = app.test_client().get("/healthz").get_json()
    assert body["scheduler"]["alive"] is True
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(JobState)).scalar() == 1
        db.session.remove()


def test_fire_never_raises(app: Flask) -> None:
    scheduler.fire(app, "no_such_job")


@pytest.fixture()
def running(app: Flask) -> Iterator[BackgroundScheduler]:
    """Start a real background scheduler and stop it (waiting for its jobs) afterwards."""
    sched = scheduler.build_scheduler(app)
    assert isinstance(sched, BackgroundScheduler)
    sched.start()
    yield sched
    if sched.running:
        sched.shutdown(wait=True)


def test_started_scheduler_runs_every_job_once_at_start(
    app: Flask, running: BackgroundScheduler
) -> None:
    deadline = time.monotonic() + 30
    seen: set[str] = set()
    while time.monotonic() < deadline:
        with app.app_context():
            seen = set(db.session.execute(sa.select(JobRun.job)).scalars())
            beat = db.session.get(JobState, "heartbeat")
            pending = db.session.execute(
                sa.select(sa.func.count()).select_from(JobRun).where(JobRun.finished_at.is_(None))
            ).scalar()
            db.session.remove()
        if seen >= set(JOBS) and beat is not None and not pending:
            break
        time.sleep(0.05)
    assert seen == set(JOBS)
    assert beat is not None
    running.shutdown(wait=True)
    with app.app_context():
        unfinished = db.session.execute(
            sa.select(JobRun.job).where(JobRun.finished_at.is_(None))
        ).all()
        db.session.remove()
    assert unfinished == []
