"""Sign-in and sign-out, login throttling, role checks and partner isolation."""

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

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
    session,
    url_for,
)
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired, Email, Length

from models import LoginAttempt, User, utcnow
from models.audit_log import record_audit
from models.db import lock_key
from models.db import session as db_session
from web.forms import Form
from web.passwords import MAX_PASSWORD_LENGTH, verify_password

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Sign in to see this page."
login_manager.login_message_category = "info"
login_manager.session_protection = "strong"

F = TypeVar("F", bound=Callable[..., Any])

HOME_BY_ROLE = {
    "partner": "conflict.registrations",
    "mcs": "conflict.registrations",
    "reviewer": "escalation.queue",
    "admin": "escalation.dashboard",
}


class LoginForm(Form):
    """The sign-in form."""

    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=254)])
    # Taken exactly as typed (no stripping), so leading and trailing spaces are part of it; the
    # password rule refuses the spaces-only passwords DataRequired would take for an empty field.
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )
    submit = SubmitField("Sign in")


@login_manager.user_loader
def load_user(identity: str) -> User | None:
    """Load the user for a session identity "id:version"; stale versions are refused."""
    user_id, _, version = identity.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db_session().get(User, int(user_id))
    if user is None or not user.is_active or user.session_version != int(version):
        return None
    return user


def home_url_for(user: User) -> str:
    """Return the landing page of a user's role."""
    return url_for(HOME_BY_ROLE.get(user.role, "auth.login"))


def role_required(*roles: str) -> Callable[[F], F]:
    """Allow a view only to signed-in users of the given roles (others get 404 or 403)."""

    def decorator(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                # Partners must not learn that other areas exist; staff get an honest 403.
                abort(404 if current_user.role == "partner" else 403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


def ensure_partner_may_see(partner_ids: set[int | None]) -> None:
    """Abort with 404 when a partner user asks for an object of another organisation."""
    if current_user.role == "partner" and current_user.partner_id not in partner_ids:
        abort(404)


# Per-address limits are looser than per-e-mail ones so an office behind one NAT can still sign in.
ADDRESS_LIMIT_FACTOR = 4


def _throttle_keys(email: str) -> list[str]:
    return [f"email:{email.lower()}", f"ip:{request.remote_addr or '?'}"]


def login_retry_after(email: str) -> int:
    """Return seconds until another attempt is allowed, or 0 when not throttled."""
    window = timedelta(seconds=current_app.config["LOGIN_WINDOW_SECONDS"])
    limit = current_app.config["LOGIN_MAX_FAILURES"]
    since = utcnow() - window
    sess = db_session()
    worst = 0
    for key in _throttle_keys(email):
        key_limit = limit if key.startswith("email:") else limit * ADDRESS_LIMIT_FACTOR
        rows = sess.execute(
            sa.select(sa.func.count(), sa.func.min(LoginAttempt.created_at)).where(
                LoginAttempt.key == key,
                LoginAttempt.success.is_(False),
                LoginAttempt.created_at >= since,
            )
        ).one()
        count, oldest = rows
        if count >= key_limit and oldest is not None:
            worst = max(worst, int((oldest + window - utcnow()).total_seconds()) + 1)
    return worst


def record_login_attempt(email: str, success: bool) -> None:
    """Count one password check against the e-mail address and the caller's address."""
    sess = db_session()
    for key in _throttle_keys(email):
        sess.add(LoginAttempt(key=key, success=success))


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Show the sign-in form and sign a user in."""
    if current_user.is_authenticated:
        return redirect(home_url_for(current_user))
    form = LoginForm()
    if form.validate_on_submit():
        email = (form.email.data or "").strip().lower()
        # Count, check and record one account's attempts in turn, so parallel guesses spread
        # over several workers cannot all slip under the limit (SQLite: BEGIN IMMEDIATE does it).
        lock_key(db_session(), "login:" + email)
        retry = login_retry_after(email)
        if retry:
            body = render_template("auth/login.html", form=form, throttled=retry)
            return body, 429, {"Retry-After": str(retry)}
        sess = db_session()
        user = sess.execute(sa.select(User).where(User.email == email)).scalar_one_or_none()
        ok = (
            user is not None
            and user.is_active
            and verify_password(user.password_hash, form.password.data or "")
        )
        record_login_attempt(email, ok)
        if not ok or user is None:
            sess.commit()
            flash("That e-mail and password do not match an active account.", "error")
            return render_template("auth/login.html", form=form), 401
        # A fresh session on sign-in defeats session fixation.
        session.clear()
        user.last_login_at = utcnow()
        record_audit(sess, user.id, "login", "user", user.id)
        sess.commit()
        login_user(user)
        return redirect(_safe_next(request.args.get("next")) or home_url_for(user))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> WerkzeugResponse:
    """Sign out and revoke every copy of this session cookie."""
    sess = db_session()
    user = sess.get(User, current_user.id)
    if user is not None:
        user.session_version += 1
        record_audit(sess, user.id, "logout", "user", user.id)
        sess.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    """Register the login manager and the sign-in routes."""
    login_manager.init_app(app)
    app.register_blueprint(bp)
