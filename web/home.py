"""The front door: send each role to its home page."""

from flask import Blueprint, Flask, redirect, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from web.auth import home_url_for

bp = Blueprint("home", __name__)


@bp.route("/")
def index() -> Response:
    """Redirect to the role's home page, or to sign-in."""
    if current_user.is_authenticated:
        return redirect(home_url_for(current_user))
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    """Register the front door."""
    app.register_blueprint(bp)
