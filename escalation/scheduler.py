"""The only module that knows APScheduler: a clock that runs the jobs over database rows.

APScheduler keeps its schedule in memory; the work itself lives in the database, claimed row by
row, so the scheduler may run in every app instance and in its own process at the same time.
On start every job runs once at once, which catches up whatever fell due while nothing ran.
"""

import atexit
import logging
import os
import signal
import socket
from types import FrameType
from typing import Any

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from escalation.jobs import JOBS, Daily, Every, Trigger, run_job, touch_state
from models import utcnow
from models.db import db, write_intent

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 30

JOB_DEFAULTS: dict[str, Any] = {
    # A late run is still worth doing (the work is level-triggered), but only once.
    "misfire_grace_time": None,
    "coalesce": True,
    "max_instances": 1,
}


def heartbeat(app: Flask) -> None:
    """Record that the scheduler is alive (shown by /healthz)."""
    with app.app_context(), write_intent():
        try:
            touch_state(db.session, "heartbeat", utcnow(), success=True)
            db.session.commit()
        except Exception:
            log.exception("heartbeat failed")
            db.session.rollback()
        finally:
            db.session.remove()


def fire(app: Flask, name: str) -> None:
    """Run one job from the scheduler; run_job records failures, this guards the thread."""
    try:
        run_job(app, name)
    except Exception:
        log.exception("job %s could not be run", name)


def aps_trigger(trigger: Trigger) -> IntervalTrigger | CronTrigger:
    """Translate a job's declared trigger into an APScheduler trigger."""
    if isinstance(trigger, Every):
        return IntervalTrigger(seconds=trigger.seconds, timezone="UTC")
    if isinstance(trigger, Daily):
        return CronTrigger(hour=trigger.hour, minute=trigger.minute, timezone="UTC")
    raise TypeError(f"unknown trigger {trigger!r}")


def build_scheduler(
    app: Flask, *, blocking: bool = False, run_on_start: bool = True
) -> BaseScheduler:
    """Create a scheduler with the heartbeat and every job in JOBS declared."""
    # APScheduler logs every job added and every execution at INFO; run_job records runs.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    cls: type[BaseScheduler] = BlockingScheduler if blocking else BackgroundScheduler
    sched = cls(timezone="UTC", job_defaults=dict(JOB_DEFAULTS))
    now = utcnow()
    sched.add_job(
        heartbeat,
        IntervalTrigger(seconds=HEARTBEAT_SECONDS, timezone="UTC"),
        args=[app],
        id="heartbeat",
        name="heartbeat",
        next_run_time=now,
        **JOB_DEFAULTS,
    )
    for name, spec in JOBS.items():
        extra: dict[str, Any] = {"next_run_time": now} if run_on_start else {}
        sched.add_job(
            fire,
            aps_trigger(spec.trigger),
            args=[app, name],
            id=name,
            name=name,
            **JOB_DEFAULTS,
            **extra,
        )
    return sched


def _started_by_cli_command() -> bool:
    """Return True when the app is being built for a flask command other than `run`.

    `flask db upgrade` or `flask jobs run` must not start a second, in-process scheduler.
    """
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        return False
    ctx = click.get_current_context(silent=True)
    return ctx is None or ctx.info_name != "run"


def stop(app: Flask) -> None:
    """Shut down the app's in-process scheduler, if one is running."""
    sched: BaseScheduler | None = app.extensions.pop("scheduler", None)
    if sched is not None and sched.running:
        sched.shutdown(wait=False)
        log.info("scheduler stopped")


def init_app(app: Flask) -> None:
    """Start the in-process scheduler when SCHEDULER_ENABLED is set."""
    if not app.config.get("SCHEDULER_ENABLED") or _started_by_cli_command():
        return
    sched = build_scheduler(app)
    sched.start()
    app.extensions["scheduler"] = sched
    atexit.register(stop, app)
    log.info("scheduler started in-process on %s with %d jobs", socket.gethostname(), len(JOBS))


def run_forever(app: Flask) -> None:
    """Run the scheduler in the foreground until interrupted (flask scheduler run)."""
    stop(app)
    sched = build_scheduler(app, blocking=True)

    def _terminate(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    log.info("scheduler running in the foreground with %d jobs", len(JOBS))
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        if sched.running:
            sched.shutdown(wait=True)
        log.info("scheduler stopped")
