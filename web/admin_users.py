"""Admin pages for user accounts."""

from typing import Any

import sqlalchemy as sa
from flask import render_template

from models import User
from models.db import session as db_session
from web.admin import bp
from web.auth import role_required


@bp.route("/users")
@role_required("admin")
def users() -> Any:
    """List users by role."""
    rows = db_session().execute(sa.select(User).order_by(User.role, User.email)).scalars().all()
    return render_template("admin/users.html", users=rows)
