"""The admin shell: the start page; users, partners and policy live in their own modules."""

from typing import Any

from flask import Blueprint, Flask, render_template

from web.auth import role_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
@role_required("admin")
def index() -> Any:
    """Show the administration start page."""
    return render_template("admin/index.html")


def init_app(app: Flask) -> None:
    """Register the admin pages."""
    # Imported for their routes, which they add to this blueprint before it is registered.
    from web import admin_partners, admin_policy, admin_users  # noqa: F401

    app.register_blueprint(bp)
