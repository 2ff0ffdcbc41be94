"""The only module that knows APScheduler: a clock that runs the jobs over database rows."""

import logging
import socket

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from models import JobState, utcnow
from models.db import db, write_intent

log = logging.getLogger(__name__)


def heartbeat(app: Flask) -> None:
    """Record that the scheduler is alive (shown by /healthz)."""
    with app.app_context(), write_intent():
        state = db.session.get(JobState, "heartbeat") or JobState(name="heartbeat")
        state.last_run_at = utcnow()
        state.last_success_at = state.last_run_at
        state.host = socket.gethostname()
        db.session.add(state)
        db.session.commit()
        db.session.remove()


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """Create the scheduler with every job declared."""
    sched = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    sched.add_job(
        heartbeat, "interval", seconds=30, args=[app], id="heartbeat", next_run_time=utcnow()
    )
    return sched


def init_app(app: Flask) -> None:
    """Start the in-process scheduler when SCHEDULER_ENABLED is set."""
    if not app.config.get("SCHEDULER_ENABLED"):
        return
    sched = build_scheduler(app)
    sched.start()
    app.extensions["scheduler"] = sched
    log.info("scheduler started in-process")
