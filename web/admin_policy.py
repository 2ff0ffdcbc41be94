"""Admin pages for the versioned policy."""

from typing import Any

import sqlalchemy as sa
from flask import render_template

from models import PolicyVersion
from models.db import session as db_session
from models.policy import active_policy
from web.admin import bp
from web.auth import role_required


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
