"""The admin shell: users, partners and policy."""

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, render_template

from models import Partner, PolicyVersion, User
from models.db import session as db_session
from models.policy import active_policy
from web.auth import role_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@role_required("admin")
def index() -> Any:
    """Show the administration start page."""
    return render_template("admin/index.html")


@bp.route("/users")
@role_required("admin")
def users() -> Any:
    """List users by role."""
    rows = db_session().execute(sa.select(User).order_by(User.role, User.email)).scalars().all()
    return render_template("admin/users.html", users=rows)


@bp.route("/partners")
@role_required("admin")
def partners() -> Any:
    """List partner organisations with their tier."""
    rows = db_session().execute(sa.select(Partner).order_by(Partner.name)).scalars().all()
    return render_template("admin/partners.html", partners=rows)


@bp.route("/policy")
@role_required("admin")
def policy() -> Any:
    """Show the active policy and its history."""
    sess = db_session()
    current = active_policy(sess)
    history = (
        sess.execute(
            sa.select(PolicyVersion).order_by(PolicyVersion.version.desc())  # type: ignore[attr-defined]
        )
        .scalars()
        .all()
    )
    return render_template("admin/policy.html", current=current, history=history)


def init_app(app: Flask) -> None:
    """Register the admin pages."""
    app.register_blueprint(bp)
