"""Admin operations pages: outbox, job runs and webhook endpoints."""

from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlmodel import col
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import BooleanField, StringField, SubmitField, URLField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from escalation.jobs import JOBS, run_job
from escalation.notify import retry_dead
from escalation.webhooks import (
    UnknownEvent,
    UnresolvableURL,
    UnsafeURL,
    add_endpoint,
    held_counts,
    parse_events,
    set_enabled,
)
from models import JobRun, JobState, OutboxMessage, WebhookEndpoint, utcnow
from models.audit_log import record_audit
from models.db import session as db_session
from models.outbox import OUTBOX_STATUSES
from models.webhook import WEBHOOK_EVENTS
from web.auth import role_required
from web.forms import Form

bp = Blueprint("ops", __name__, url_prefix="/admin")

PAGE_SIZE = 50
HEARTBEAT_ALIVE_SECONDS = 120


def _status_counts(endpoint_id: int | None = None) -> dict[str, int]:
    query = sa.select(col(OutboxMessage.status), sa.func.count())
    if endpoint_id is not None:
        query = query.where(col(OutboxMessage.endpoint_id) == endpoint_id)
    rows = db_session().execute(query.group_by(col(OutboxMessage.status)))
    counts = {status: 0 for status in OUTBOX_STATUSES}
    counts.update({status: int(n) for status, n in rows.all()})
    return counts


@bp.route("/outbox")
@role_required("admin")
def outbox() -> Any:
    """List outbox messages by status, newest first, with their delivery state.

    With endpoint_id, only that webhook endpoint's messages: its delivery page.
    """
    status = request.args.get("status", "pending")
    if status not in OUTBOX_STATUSES:
        abort(404)
    before = request.args.get("before", type=int)
    endpoint_id = request.args.get("endpoint_id", type=int)
    endpoint = db_session().get(WebhookEndpoint, endpoint_id) if endpoint_id else None
    if endpoint_id and endpoint is None:
        abort(404)
    query = sa.select(OutboxMessage).where(col(OutboxMessage.status) == status)
    if endpoint is not None:
        query = query.where(col(OutboxMessage.endpoint_id) == endpoint.id)
    if before:
        query = query.where(col(OutboxMessage.id) < before)
    rows = (
        db_session()
        .execute(query.order_by(col(OutboxMessage.id).desc()).limit(PAGE_SIZE + 1))
        .scalars()
        .all()
    )
    next_url = None
    if len(rows) > PAGE_SIZE:
        rows = rows[:PAGE_SIZE]
        next_url = url_for("ops.outbox", status=status, before=rows[-1].id, endpoint_id=endpoint_id)
    first_url = url_for("ops.outbox", status=status, endpoint_id=endpoint_id) if before else None
    return render_template(
        "ops/outbox.html",
        status=status,
        statuses=OUTBOX_STATUSES,
        counts=_status_counts(endpoint_id if endpoint is not None else None),
        endpoint=endpoint,
        endpoint_id=endpoint_id if endpoint is not None else None,
        messages=rows,
        next_url=next_url,
        first_url=first_url,
    )


def _disabled_endpoint_of(message_id: int) -> WebhookEndpoint | None:
    query = (
        sa.select(WebhookEndpoint)
        .join(OutboxMessage, col(OutboxMessage.endpoint_id) == col(WebhookEndpoint.id))
        .where(col(OutboxMessage.id) == message_id, col(WebhookEndpoint.enabled).is_(False))
    )
    return db_session().execute(query).scalar_one_or_none()


@bp.route("/outbox/<int:message_id>/retry", methods=["POST"])
@role_required("admin")
def retry(message_id: int) -> WerkzeugResponse:
    """Put a dead message back in the queue."""
    sess = db_session()
    endpoint = _disabled_endpoint_of(message_id)
    if endpoint is not None:
        flash(
            f"Message {message_id} would fail again: enable webhook endpoint {endpoint.id} "
            "first, then retry it.",
            "error",
        )
        return redirect(url_for("ops.outbox", status="dead"))
    if retry_dead(sess, message_id, utcnow()):
        record_audit(sess, current_user.id, "outbox.retry", "outbox_message", message_id)
        sess.commit()
        flash(f"Message {message_id} is queued again.", "success")
    else:
        sess.rollback()
        flash(f"Message {message_id} is not dead-lettered; nothing to retry.", "error")
    return redirect(url_for("ops.outbox", status="dead"))


def _heartbeat(states: dict[str, JobState]) -> dict[str, Any] | None:
    beat = states.get("heartbeat")
    if beat is None or beat.last_run_at is None:
        return None
    age = (utcnow() - beat.last_run_at).total_seconds()
    return {
        "at": beat.last_run_at,
        "age": int(age),
        "host": beat.host,
        "alive": age < HEARTBEAT_ALIVE_SECONDS,
    }


@bp.route("/jobs")
@role_required("admin")
def jobs() -> Any:
    """Show every job's schedule and last success, recent runs and the heartbeat."""
    sess = db_session()
    states = {s.name: s for s in sess.execute(sa.select(JobState)).scalars()}
    job_filter = request.args.get("job")
    query = sa.select(JobRun)
    if job_filter in JOBS:
        query = query.where(col(JobRun.job) == job_filter)
    runs = sess.execute(query.order_by(col(JobRun.id).desc()).limit(100)).scalars().all()
    return render_template(
        "ops/jobs.html",
        jobs=list(JOBS.values()),
        states=states,
        runs=runs,
        job_filter=job_filter if job_filter in JOBS else None,
        heartbeat=_heartbeat(states),
        scheduler_here="scheduler" in current_app.extensions,
    )


@bp.route("/jobs/<name>/run", methods=["POST"])
@role_required("admin")
def run_now(name: str) -> WerkzeugResponse:
    """Run a job now, in this request, and report the outcome."""
    if name not in JOBS:
        abort(404)
    sess = db_session()
    record_audit(sess, current_user.id, "job.run", "job", name)
    # End this request's transaction first: on SQLite it holds the write lock the job needs.
    sess.commit()
    run = run_job(current_app._get_current_object(), name)  # type: ignore[attr-defined]
    if run.error:
        flash(f"{name} failed: {run.error}", "error")
    else:
        flash(f"{name} done: {run.items} items.", "success")
    return redirect(url_for("ops.jobs"))


def _endpoints() -> list[WebhookEndpoint]:
    query = sa.select(WebhookEndpoint).order_by(col(WebhookEndpoint.id))
    return list(db_session().execute(query).scalars())


class WebhookForm(Form):
    """The form that adds a webhook endpoint."""

    url = URLField(
        "Endpoint URL",
        validators=[DataRequired(), Length(max=2000)],
        render_kw={"placeholder": "https://example.com/hooks/channelguard"},
    )
    events = StringField("Event types", validators=[Optional(), Length(max=1000)])
    allow_private = BooleanField("Allow a private, loopback or link-local address")
    submit = SubmitField("Add endpoint")

    def validate_events(self, field: StringField) -> None:
        """Refuse event types no webhook is sent for."""
        try:
            parse_events(field.data or "")
        except UnknownEvent as exc:
            raise ValidationError(str(exc)) from exc


@bp.route("/webhooks", methods=["GET", "POST"])
@role_required("admin")
def webhooks() -> Any:
    """List webhook endpoints and add one (its secret is shown once, on this answer)."""
    form = WebhookForm()
    created: WebhookEndpoint | None = None
    status = 200
    if form.validate_on_submit():
        sess = db_session()
        # Resolving the host can be slow; do it before this request holds a write lock.
        sess.rollback()
        try:
            created = add_endpoint(
                sess,
                form.url.data or "",
                allow_private=bool(form.allow_private.data),
                events=parse_events(form.events.data or ""),
            )
        except (UnsafeURL, UnresolvableURL) as exc:
            sess.rollback()
            form.url.errors = [*form.url.errors, str(exc)]
            status = 422
        else:
            record_audit(
                sess,
                current_user.id,
                "webhook.add",
                "webhook_endpoint",
                created.id,
                url=created.url,
                allow_private=created.allow_private,
            )
            sess.commit()
            status = 201
            form = WebhookForm(formdata=None)
    elif request.method == "POST":
        status = 422
    body = render_template(
        "ops/webhooks.html",
        endpoints=_endpoints(),
        held=held_counts(db_session()),
        created=created,
        form=form,
        event_types=WEBHOOK_EVENTS,
    )
    # The answer may carry a secret: keep it out of every cache.
    return body, status, {"Cache-Control": "no-store"}


@bp.route("/webhooks/<int:endpoint_id>/<any(enable, disable):action>", methods=["POST"])
@role_required("admin")
def webhook_toggle(endpoint_id: int, action: str) -> WerkzeugResponse:
    """Enable or disable an endpoint."""
    sess = db_session()
    endpoint = sess.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        abort(404)
    requeued = set_enabled(sess, endpoint, action == "enable")
    record_audit(
        sess,
        current_user.id,
        f"webhook.{action}",
        "webhook_endpoint",
        endpoint_id,
        requeued=requeued,
    )
    sess.commit()
    held = f"; {requeued} message(s) held while it was disabled are sent again" if requeued else ""
    flash(f"Endpoint {endpoint_id} {action}d{held}.", "success")
    return redirect(url_for("ops.webhooks"))


def init_app(app: Flask) -> None:
    """Register the operations pages."""
    app.register_blueprint(bp)
