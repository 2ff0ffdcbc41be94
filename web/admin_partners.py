"""Admin pages for partner organisations."""

from typing import Any

import sqlalchemy as sa
from flask import render_template

from models import Partner
from models.db import session as db_session
from web.admin import bp
from web.auth import role_required


@bp.route("/partners")
@role_required("admin")
def partners() -> Any:
    """List partner organisations with their tier."""
    rows = db_session().execute(sa.select(Partner).order_by(Partner.name)).scalars().all()
    return render_template("admin/partners.html", partners=rows)
