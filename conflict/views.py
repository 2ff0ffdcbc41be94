"""Partner and MCS pages: registrations and the account look-up."""

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, render_template
from flask_login import current_user

from models import Registration
from models.db import session as db_session
from web.auth import ensure_partner_may_see, role_required

bp = Blueprint("conflict", __name__)

def scoped_registrations() -> Any:
    """Return a select of the registrations the current user may see."""
    query = sa.select(Registration)
    if current_user.role == "partner":
        query = query.where(Registration.partner_id == current_user.partner_id)
    elif current_user.role == "mcs":
        query = query.where(Registration.party == "mcs")
    return query


@bp.route("/registrations")
@role_required("partner", "mcs", "admin")
def registrations() -> Any:
    """List the registrations the user may see, newest first."""
    rows = (
        db_session()
        .execute(
            scoped_registrations()
            .order_by(Registration.submitted_at.desc(), Registration.id.desc())  # type: ignore[union-attr]
            .limit(50)
        )
        .scalars()
        .all()
    )
    return render_template("conflict/registrations.html", registrations=rows)


@bp.route("/registrations/new", methods=["GET", "POST"])
@role_required("partner", "mcs", "admin")
def new_registration() -> Any:
    """Show the deal-registration form."""
    return render_template("conflict/new_registration.html")


@bp.route("/registrations/<int:reg_id>")
@role_required("partner", "mcs", "reviewer", "admin")
def registration_detail(reg_id: int) -> Any:
    """Show one registration (404 for another partner's)."""
    reg = db_session().get(Registration, reg_id)
    if reg is None:
        abort(404)
    ensure_partner_may_see({reg.partner_id})
    return render_template("conflict/registration_detail.html", reg=reg)


def init_app(app: Flask) -> None:
    """Register the partner pages."""
    app.register_blueprint(bp)
