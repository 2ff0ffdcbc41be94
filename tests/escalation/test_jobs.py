"""The job registry and runner: every run recorded, failures contained, CLI and admin page."""

import importlib
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from escalation import jobs
from escalation.jobs import JOBS, Daily, Every, JobSpec, prune_history, resolve, run_job
from models import JobRun, JobState, OutboxMessage, utcnow
from models.db import db
from tests.escalation.test_webhooks import admin_client
from tests.factories import make_user, post_form

SPEC_NAMES = {
    "route_exceptions",
    "escalate_overdue",
    "expire_registrations",
    "deliver_outbox",
    "deliver_webhooks",
    "sync_named_accounts",
    "open_district_reviews",
    "send_digests",
}

calls_seen: list[datetime] = []


def counting_job(sess: Session, now: datetime) -> int:
    """Write a row and report two items."""
    calls_seen.append(now)
    make_user("reviewer")
    return 2


def failing_job(sess: Session, now: datetime) -> int:
    """Write a row, then fail."""
    make_user("reviewer", email="half-done@example.com")
    sess.flush()
    raise RuntimeError("boom")


@pytest.fixture()
def test_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Declare extra jobs that point at this module and at nothing."""
    here = __name__
    extra = {
        "counting": JobSpec("counting", f"{here}:counting_job", Every(60), "counts"),
        "failing": JobSpec("failing", f"{here}:failing_job", Every(60), "fails"),
        "missing_function": JobSpec(
            "missing_function", "escalation.jobs:no_such_function", Daily(1), "nothing"
        ),
        "missing_module": JobSpec(
            "missing_module", "escalation.no_such_module:run", Daily(1), "nothing"
        ),
    }
    for name, spec in extra.items():
        monkeypatch.setitem(JOBS, name, spec)
    calls_seen.clear()


def test_every_job_in_the_spec_is_declared_as_data() -> None:
    assert set(JOBS) >= SPEC_NAMES
    for name, spec in JOBS.items():
        assert spec.name == name
        module, _, function = spec.target.partition(":")
        assert module and function.isidentifier()
        assert isinstance(spec.trigger, Every | Daily) and spec.description
    assert JOBS["deliver_outbox"].target == "escalation.mailer:deliver_outbox"
    assert JOBS["send_digests"].trigger == Daily(7)


def test_own_job_targets_resolve() -> None:
    for name in ("deliver_outbox", "deliver_webhooks", "send_digests", "prune_history"):
        assert callable(resolve(JOBS[name].target))


def test_targets_of_other_modules_resolve_when_present() -> None:
    for spec in JOBS.values():
        module = spec.target.partition(":")[0]
        try:
            importlib.import_module(module)
        except ImportError:
            continue  # recorded as that job's error at run time (see below)
        assert callable(resolve(spec.target)), spec.target


def test_successful_run_is_recorded(app: Flask, test_jobs: None) -> None:
    now = utcnow() + timedelta(hours=1)
    run = run_job(app, "counting", now=now)
    assert run.id is not None and run.error is None and run.items == 2
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert run.host == jobs.worker_name()
    assert calls_seen == [now]
    with app.app_context():
        state = db.session.get(JobState, "counting")
        assert state is not None and state.last_success_at == state.last_run_at == run.finished_at
        assert db.session.execute(sa.select(sa.func.count()).select_from(JobRun)).scalar() == 1
        db.session.remove()


def test_failed_run_is_rolled_back_and_recorded(app: Flask, test_jobs: None) -> None:
    run_job(app, "counting")
    run = run_job(app, "failing")
    assert run.error == "RuntimeError: boom" and run.items == 0
    with app.app_context():
        emails = db.session.execute(sa.text('SELECT email FROM "user"')).scalars().all()
        assert "half-done@example.com" not in emails
        state = db.session.get(JobState, "failing")
        assert state is not None and state.last_run_at is not None
        assert state.last_success_at is None
        db.session.remove()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing_function", "escalation.jobs has no function 'no_such_function'"),
        ("missing_module", "cannot import escalation.no_such_module"),
    ],
)
def test_a_job_that_cannot_be_loaded_fails_alone(
    app: Flask, test_jobs: None, name: str, message: str
) -> None:
    run = run_job(app, name)
    assert run.error is not None and message in run.error
    assert run_job(app, "counting").error is None
    with app.app_context():
        recorded = db.session.execute(sa.select(JobRun).where(JobRun.job == name)).scalar_one()
        assert recorded.error == run.error and recorded.finished_at is not None
        db.session.remove()


def test_unknown_job_is_refused(app: Flask) -> None:
    with pytest.raises(jobs.UnknownJob):
        run_job(app, "no_such_job")


def test_run_job_uses_the_current_app_when_none_is_given(ctx: Flask, test_jobs: None) -> None:
    assert run_job(None, "counting").items == 2


def test_jobs_cli_lists_and_reports_failures(app: Flask, test_jobs: None) -> None:
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["jobs", "list"])
    assert listed.exit_code == 0
    for name in SPEC_NAMES:
        assert name in listed.output
    assert "daily at 07:00 UTC" in listed.output
    ok = runner.invoke(args=["jobs", "run", "counting"])
    assert ok.exit_code == 0 and "counting: 2 items" in ok.output
    failed = runner.invoke(args=["jobs", "run", "failing"])
    assert failed.exit_code == 1 and "RuntimeError: boom" in failed.output
    unknown = runner.invoke(args=["jobs", "run", "nope"])
    assert unknown.exit_code == 2


def test_prune_history(ctx: Flask) -> None:
    now = utcnow()
    db.session.add_all(
        [
            JobRun(job="old", started_at=now - timedelta(days=30)),
            JobRun(job="new", started_at=now - timedelta(days=1)),
            OutboxMessage(
                event="e", message_id="<old@x>", status="sent", sent_at=now - timedelta(days=200)
            ),
            OutboxMessage(
                event="e",
                message_id="<dead@x>",
                status="dead",
                created_at=now - timedelta(days=200),
            ),
        ]
    )
    db.session.commit()
    assert prune_history(db.session, now) == 2
    db.session.commit()
    assert db.session.execute(sa.select(JobRun.job)).scalars().all() == ["new"]
    assert db.session.execute(sa.select(OutboxMessage.message_id)).scalars().all() == ["<dead@x>"]


def test_jobs_page_shows_runs_heartbeat_and_runs_a_job(app: Flask, test_jobs: None) -> None:
    run_job(app, "failing")
    with app.app_context():
        db.session.add(JobState(name="heartbeat", last_run_at=utcnow(), host="clock-1"))
        db.session.commit()
        db.session.remove()
    client = admin_client(app)

    page = client.get("/admin/jobs")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "RuntimeError: boom" in body and "clock-1" in body
    for name in SPEC_NAMES:
        assert f'action="/admin/jobs/{name}/run"' in body

    assert client.post("/admin/jobs/counting/run").status_code == 400  # CSRF required
    resp = post_form(client, "/admin/jobs", {}, action="/admin/jobs/counting/run")
    assert resp.status_code == 302
    assert "counting done: 2 items." in client.get("/admin/jobs").get_data(as_text=True)
    assert post_form(client, "/admin/jobs", {}, action="/admin/jobs/nope/run").status_code == 404
    with app.app_context():
        runs = db.session.execute(sa.select(JobRun.job).order_by(JobRun.id)).scalars().all()
        assert runs == ["failing", "counting"]
        db.session.remove()
