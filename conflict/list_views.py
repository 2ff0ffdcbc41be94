"""Admin pages for named-account lists, and the account look-up for everyone."""

from typing import Any

from flask import Blueprint, Flask, render_template

from web.auth import role_required

bp = Blueprint("lists", __name__)


@bp.route("/accounts/lookup")
@role_required("partner", "mcs", "reviewer", "admin")
def account_lookup() -> Any:
    """Let a user ask whether an account is named before investing in it."""
    return render_template("conflict/lookup.html")


def init_app(app: Flask) -> None:
    """Register the list pages."""
    app.register_blueprint(bp)
