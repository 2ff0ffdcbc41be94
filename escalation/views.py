"""Reviewer queue, ticket pages and the dashboard."""

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, render_template
from flask_login import current_user

from models import Registration, Ticket
from models.db import session as db_session
from web.auth import ensure_partner_may_see, role_required

bp = Blueprint("escalation", __name__)


@bp.route("/queue")
@role_required("reviewer", "admin")
def queue() -> Any:
    """List open tickets for the reviewer's districts, most urgent first."""
    query = sa.select(Ticket).where(Ticket.status != "decided")
    if current_user.role == "reviewer" and current_user.level == 1:
        query = query.where(Ticket.district.in_(current_user.districts or []))  # type: ignore[union-attr]
    rows = (
        db_session()
        .execute(
            query.order_by(Ticket.sla_due_at.asc(), Ticket.id.asc()).limit(50)  # type: ignore[union-attr]
        )
        .scalars()
        .all()
    )
    return render_template("escalation/queue.html", tickets=rows)


@bp.route("/tickets/<int:ticket_id>")
@role_required("partner", "mcs", "reviewer", "admin")
def ticket_detail(ticket_id: int) -> Any:
    """Show a ticket (404 for a partner who is not a party)."""
    ticket = db_session().get(Ticket, ticket_id)
    if ticket is None:
        abort(404)
    ensure_partner_may_see({ticket.partner_id, ticket.other_partner_id})
    reg = db_session().get(Registration, ticket.registration_id)
    return render_template("escalation/ticket.html", ticket=ticket, reg=reg)


@bp.route("/dashboard")
@role_required("reviewer", "admin")
def dashboard() -> Any:
    """Show the program's conflict and SLA figures."""
    counts: dict[str, int] = dict(
        db_session()
        .execute(sa.select(Ticket.status, sa.func.count()).group_by(Ticket.status))
        .all()
    )
    return render_template("escalation/dashboard.html", counts=counts)


def init_app(app: Flask) -> None:
    """Register the reviewer pages."""
    app.register_blueprint(bp)
