"""The user's own profile: password, personal API tokens and the notification preference."""

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required, login_user
from sqlalchemy.orm import Session
from wtforms import Field, PasswordField, RadioField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from models import ApiToken, User, utcnow
from models.audit_log import record_audit
from models.db import lock_key
from models.db import session as db_session
from models.user import NOTIFY_MODES
from web.auth import login_retry_after, record_login_attempt
from web.forms import Form
from web.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    hash_password,
    hash_token,
    new_token,
    password_problem,
    verify_password,
)
from web.templating import format_wait

bp = Blueprint("profile", __name__)

# Enough for scripts and integrations; more usually means forgotten tokens.
MAX_ACTIVE_TOKENS = 10
NOTIFY_LABELS: dict[str, str] = {
    "immediate": "Immediately: one e-mail per event",
    "digest": "Daily digest: one e-mail a day with everything that happened",
}
assert set(NOTIFY_LABELS) == set(NOTIFY_MODES)


class TokenForm(Form):
    """Create a personal API token."""

    name = StringField(
        "Token name",
        validators=[
            DataRequired("Name the token after what will use it."),
            Length(max=100, message="Use at most 100 characters."),
        ],
    )
    submit = SubmitField("Create token")


class RevokeForm(Form):
    """Revoke one token (the CSRF token is the whole form)."""

    submit = SubmitField("Revoke")


class NotifyForm(Form):
    """Choose how notifications arrive."""

    notify_mode = RadioField(
        "E-mail notifications",
        choices=[SelectChoice(k, v) for k, v in NOTIFY_LABELS.items()],
        validators=[DataRequired()],
    )
    submit = SubmitField("Save preference")


def _acceptable_password(form: Form, field: Field) -> None:
    problem = password_problem(field.data or "")
    if problem:
        raise ValidationError(problem)
    if field.data == form["current_password"].data:
        raise ValidationError("Choose a password different from your current one.")


class PasswordChangeForm(Form):
    """Change one's own password: the current one, then the new one twice."""

    current_password = PasswordField(
        "Current password",
        validators=[
            DataRequired("Enter your current password."),
            Length(max=MAX_PASSWORD_LENGTH, message="That is not your current password."),
        ],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        "New password",
        validators=[_acceptable_password],
        render_kw={"autocomplete": "new-password"},
    )
    confirm_password = PasswordField(
        "Repeat the new password",
        validators=[EqualTo("new_password", message="The two passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )
    submit = SubmitField("Change password")


def change_password(sess: Session, user: User, new_password: str) -> None:
    """Replace a user's password, end every session of theirs, and audit it."""
    problem = password_problem(new_password)
    if problem:
        raise ValueError(problem)
    user.password_hash = hash_password(new_password)
    # Every cookie issued so far names the old version; the caller signs its own browser in again.
    user.session_version += 1
    record_audit(sess, user.id, "user.password_changed", "user", user.id)


def user_tokens(sess: Session, user_id: int) -> list[ApiToken]:
    """Return a user's tokens, active ones first, newest first."""
    return list(
        sess.execute(
            sa.select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(
                ApiToken.revoked_at.is_not(None),
                ApiToken.created_at.desc(),
                ApiToken.id.desc(),
            )
        ).scalars()
    )


def create_token(sess: Session, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token for a user and return the row and the secret (shown once, never stored)."""
    secret = new_token()
    row = ApiToken(
        user_id=user.id, name=name.strip(), prefix=secret[:8], token_hash=hash_token(secret)
    )
    sess.add(row)
    sess.flush()
    record_audit(sess, user.id, "api_token.created", "api_token", row.id, prefix=row.prefix)
    return row, secret


def revoke_token(sess: Session, user: User, token_id: int) -> ApiToken | None:
    """Revoke one of the user's own tokens; return None when the user has no such token."""
    row = sess.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        return None
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record_audit(sess, user.id, "api_token.revoked", "api_token", row.id, prefix=row.prefix)
    return row


def _page(
    *,
    token_form: TokenForm | None = None,
    notify_form: NotifyForm | None = None,
    password_form: PasswordChangeForm | None = None,
    new_secret: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Any:
    user: User = current_user._get_current_object()
    tokens = user_tokens(db_session(), user.id)
    body = render_template(
        "profile/index.html",
        user=user,
        tokens=tokens,
        active_count=sum(1 for t in tokens if t.revoked_at is None),
        max_tokens=MAX_ACTIVE_TOKENS,
        token_form=token_form or TokenForm(formdata=None),
        notify_form=notify_form or NotifyForm(formdata=None, notify_mode=user.notify_mode),
        revoke_form=RevokeForm(formdata=None),
        password_form=password_form or PasswordChangeForm(formdata=None),
        min_password_length=MIN_PASSWORD_LENGTH,
        new_secret=new_secret,
    )
    # The page may show a secret once; no cache may keep it.
    return body, status, {"Cache-Control": "no-store", **(headers or {})}


@bp.route("/profile")
@login_required
def index() -> Any:
    """Show the user's password form, API tokens and notification preference."""
    return _page()


@bp.route("/profile/tokens", methods=["POST"])
@login_required
def create() -> Any:
    """Create an API token and show its secret once."""
    form = TokenForm()
    if not form.validate():
        return _page(token_form=form, status=422)
    sess = db_session()
    user: User = current_user._get_current_object()
    active = sess.execute(
        sa.select(sa.func.count())
        .select_from(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).scalar_one()
    if active >= MAX_ACTIVE_TOKENS:
        form.name.errors = [
            f"You already have {MAX_ACTIVE_TOKENS} active tokens; revoke one you no longer use."
        ]
        return _page(token_form=form, status=422)
    _row, secret = create_token(sess, user, form.name.data or "")
    sess.commit()
    # Rendered, not redirected: the secret must never sit in a cookie or a URL.
    return _page(new_secret=secret, status=201)


@bp.route("/profile/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke(token_id: int) -> Any:
    """Revoke one of the user's tokens."""
    form = RevokeForm()
    if not form.validate():
        abort(400)
    sess = db_session()
    row = revoke_token(sess, current_user._get_current_object(), token_id)
    if row is None:
        abort(404)
    sess.commit()
    flash(f"Token {row.prefix}… was revoked; requests using it are refused.", "success")
    return redirect(url_for(".index"), 303)


@bp.route("/profile/password", methods=["POST"])
@login_required
def password() -> Any:
    """Change the user's own password, signing out their other sessions but not this one."""
    form = PasswordChangeForm()
    if not form.validate():
        return _page(password_form=form, status=422)
    sess = db_session()
    user = sess.get(User, current_user.id)
    if user is None:
        abort(404)
    email = user.email.lower()
    # Guesses here count with the sign-in form's, so a session left open somewhere cannot be used
    # to try passwords beyond the sign-in limit; one account's checks run one at a time.
    lock_key(sess, "login:" + email)
    retry = login_retry_after(email)
    if retry:
        form.current_password.errors = [
            f"Too many wrong passwords. Try again in {format_wait(retry)}."
        ]
        return _page(password_form=form, status=429, headers={"Retry-After": str(retry)})
    ok = verify_password(user.password_hash, form.current_password.data or "")
    record_login_attempt(email, ok)
    if not ok:
        sess.commit()
        form.current_password.errors = ["That is not your current password."]
        return _page(password_form=form, status=422)
    change_password(sess, user, form.new_password.data or "")
    sess.commit()
    # This browser gets a cookie naming the new version, so it alone stays signed in.
    login_user(user)
    flash(
        "Your password was changed. Every other session of yours is signed out; "
        "this one stays signed in.",
        "success",
    )
    return redirect(url_for(".index"), 303)


@bp.route("/profile/notifications", methods=["POST"])
@login_required
def notifications() -> Any:
    """Save the user's notification preference."""
    form = NotifyForm()
    if not form.validate():
        return _page(notify_form=form, status=422)
    sess = db_session()
    user = sess.get(User, current_user.id)
    if user is None:
        abort(404)
    if user.notify_mode != form.notify_mode.data:
        record_audit(
            sess,
            user.id,
            "user.notify_mode",
            "user",
            user.id,
            old=user.notify_mode,
            new=form.notify_mode.data,
        )
        user.notify_mode = form.notify_mode.data or "immediate"
    sess.commit()
    flash("Your notification preference was saved.", "success")
    return redirect(url_for(".index"), 303)


def init_app(app: Flask) -> None:
    """Register the profile pages."""
    app.register_blueprint(bp)
