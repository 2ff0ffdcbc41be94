"""/healthz: database reachability and the scheduler's heartbeat, as JSON."""

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, jsonify

from models import JobState, utcnow
from models.db import db

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz() -> Any:
    """Report whether the database answers and when the scheduler last beat."""
    body: dict[str, Any] = {"status": "ok", "database": "ok", "scheduler": None}
    try:
        db.session.execute(sa.text("SELECT 1"))
        beat = db.session.get(JobState, "heartbeat")
        if beat is not None and beat.last_run_at is not None:
            age = (utcnow() - beat.last_run_at).total_seconds()
            body["scheduler"] = {
                "last_heartbeat": beat.last_run_at.isoformat(),
                "age_seconds": round(age, 1),
                "host": beat.host,
                "alive": age < 120,
            }
        db.session.rollback()
    except sa.exc.SQLAlchemyError as exc:
        db.session.rollback()
        body.update(status="degraded", database="unreachable", detail=type(exc).__name__)
        return jsonify(body), 503
    return jsonify(body)


def init_app(app: Flask) -> None:
    """Register the health endpoint (exempt from sign-in)."""
    app.register_blueprint(bp)
