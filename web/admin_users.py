"""Admin pages for user accounts: the list, a new account, changes, disabling, a new password."""

from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms import (
    EmailField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from conflict.forms import MultiCheckboxField
from escalation.mailer import LEVEL_NAMES
from escalation.service import STAFF_ROLES
from models import District, Partner, User
from models.db import session as db_session
from models.user import ROLES
from web.accounts import (
    AccountData,
    AccountError,
    can_take_any,
    create_account,
    hand_over_tickets,
    owned_open_tickets,
    set_active,
    set_password,
    update_account,
)
from web.admin import bp
from web.auth import role_required
from web.forms import Form
from web.templating import label

ROLE_HELP = {
    "partner": "registers deals for one partner organisation and sees only its data",
    "mcs": "registers MCS engagements and sees the conflicts that involve them",
    "reviewer": "works the review queue for a district (1), a region (2) or the nation (3)",
    "admin": "runs the program: lists, partners, users, policy",
}
LEVELS = [SelectChoice("", "Not a reviewer")] + [
    SelectChoice(str(k), v) for k, v in LEVEL_NAMES.items()
]


class AccountForm(Form):
    """An account's role and scope; the password only when it is created."""

    email = EmailField("E-mail", validators=[DataRequired("Enter an e-mail address.")])
    name = StringField("Name", validators=[Length(max=200, message="Use at most 200 characters.")])
    role = SelectField("Role", choices=[SelectChoice(r, label(r)) for r in ROLES])
    partner_id = SelectField("Partner organisation", coerce=str, validate_choice=False)
    level = SelectField("Reviewer level", choices=LEVELS, validate_choice=False)
    districts = MultiCheckboxField("Districts", validate_choice=False)
    region = SelectField("Region", validate_choice=False)
    password = PasswordField("Password", validators=[Optional()])
    submit = SubmitField("Save")


class PasswordForm(Form):
    """A new password an admin sets for someone who lost theirs."""

    password = PasswordField("New password", validators=[DataRequired("Enter the new password.")])
    confirm = PasswordField(
        "Repeat it",
        validators=[EqualTo("password", message="The two passwords differ.")],
    )
    submit = SubmitField("Set password")


class HandOverForm(Form):
    """Who takes over the open tickets of someone leaving or going away."""

    assignee = SelectField("Hand their open tickets to", coerce=int, validate_choice=False)
    submit = SubmitField("Hand over")


class ActiveForm(Form):
    """Disable or enable an account (the CSRF token and the button are the whole form)."""

    submit = SubmitField("Apply")


def _fill_choices(form: AccountForm) -> None:
    sess = db_session()
    partners = sess.execute(sa.select(Partner.id, Partner.name).order_by(Partner.name)).all()
    form.partner_id.choices = [SelectChoice("", "No organisation")] + [
        SelectChoice(str(i), n) for i, n in partners
    ]
    districts = sess.execute(
        sa.select(District.code, District.name, District.region).order_by(District.name)
    ).all()
    form.districts.choices = [SelectChoice(code, name) for code, name, _region in districts]
    regions = sorted({region for _code, _name, region in districts})
    form.region.choices = [SelectChoice("", "No region")] + [
        SelectChoice(r, label(r)) for r in regions
    ]


def _data(form: AccountForm) -> AccountData:
    partner = form.partner_id.data or ""
    level = form.level.data or ""
    return AccountData(
        email=form.email.data or "",
        role=form.role.data or "",
        name=form.name.data or "",
        partner_id=int(partner) if partner.isdigit() else None,
        level=int(level) if level.isdigit() else None,
        districts=list(form.districts.data or []),
        region=form.region.data or None,
        password=form.password.data or None,
    )


def _show_errors(form: AccountForm, errors: dict[str, str]) -> None:
    for name, message in errors.items():
        target = getattr(form, name, None) or form.email
        target.errors = [*target.errors, message]


def _account_page(
    form: AccountForm,
    user: User | None,
    status: int = 200,
    password_form: PasswordForm | None = None,
) -> Any:
    sess = db_session()
    context: dict[str, Any] = {"form": form, "account": user, "role_help": ROLE_HELP}
    if user is not None:
        context |= {
            "password_form": password_form or PasswordForm(formdata=None),
            "active_form": ActiveForm(formdata=None),
            "hand_over_form": _hand_over_form(user, formdata=None),
            "open_tickets": owned_open_tickets(sess, user.id or 0),
            "is_me": user.id == current_user.id,
        }
    return render_template("admin/user_form.html", **context), status


def _hand_over_form(user: User, **kwargs: Any) -> HandOverForm:
    """Return the hand-over form offering the active staff who could work some of the tickets."""
    form = HandOverForm(**kwargs)
    sess = db_session()
    tickets = owned_open_tickets(sess, user.id or 0)
    staff = sess.execute(
        sa.select(User)
        .where(
            User.role.in_(STAFF_ROLES),  # type: ignore[attr-defined]
            User.is_active.is_(True),  # type: ignore[attr-defined]
            User.id != user.id,
        )
        .order_by(User.role.desc(), User.name, User.email)  # type: ignore[attr-defined]
    ).scalars()
    form.assignee.choices = [SelectChoice(0, "Choose a reviewer")] + [
        SelectChoice(u.id or 0, f"{u.display_name} ({label(u.role)}, level {u.level or '—'})")
        for u in staff
        if can_take_any(sess, u, tickets)
    ]
    return form


def _filled_form(user: User) -> AccountForm:
    form = AccountForm(formdata=None, obj=user)
    _fill_choices(form)
    form.partner_id.data = str(user.partner_id or "")
    form.level.data = str(user.level or "")
    form.region.data = user.region or ""
    return form


def _account(user_id: int) -> User:
    user = db_session().get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users")
@role_required("admin")
def users() -> Any:
    """List users by role."""
    sess = db_session()
    rows = sess.execute(
        sa.select(User, Partner.name)
        .outerjoin(Partner, Partner.id == User.partner_id)  # type: ignore[arg-type]
        .order_by(User.role, User.email)
    ).all()
    return render_template("admin/users.html", rows=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@role_required("admin")
def new_user() -> Any:
    """Create an account with a first password the person changes after signing in."""
    form = AccountForm()
    _fill_choices(form)
    if request.method == "GET":
        return _account_page(form, None)
    if not form.validate():
        return _account_page(form, None, 422)
    sess = db_session()
    try:
        user = create_account(sess, _data(form), actor=current_user._get_current_object())
    except AccountError as exc:
        sess.rollback()
        _show_errors(form, exc.errors)
        return _account_page(form, None, 422)
    sess.commit()
    flash(f"Created {user.email} ({label(user.role)}).", "success")
    return redirect(url_for("admin.users"), 303)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@role_required("admin")
def edit_user(user_id: int) -> Any:
    """Show an account, and change its role, organisation or territory."""
    user = _account(user_id)
    if request.method == "GET":
        return _account_page(_filled_form(user), user)
    form = AccountForm()
    _fill_choices(form)
    form.password.data = None  # a password changes only through its own form
    if not form.validate():
        return _account_page(form, user, 422)
    sess = db_session()
    try:
        changed = update_account(sess, user, _data(form), actor=current_user._get_current_object())
    except AccountError as exc:
        sess.rollback()
        _show_errors(form, exc.errors)
        return _account_page(form, _account(user_id), 422)
    sess.commit()
    if changed:
        flash(f"Saved {user.email}: {', '.join(label(k) for k in changed)} changed.", "success")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("admin.edit_user", user_id=user_id), 303)


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@role_required("admin")
def user_active(user_id: int) -> WerkzeugResponse:
    """Disable an account (its sessions and tokens stop working) or enable it again."""
    user = _account(user_id)
    form = ActiveForm()
    wanted = request.form.get("active")
    if not form.validate() or wanted not in ("0", "1"):
        abort(400)
    sess = db_session()
    try:
        done = set_active(sess, user, wanted == "1", actor=current_user._get_current_object())
    except AccountError as exc:
        sess.rollback()
        flash(exc.errors["active"], "error")
        return redirect(url_for("admin.edit_user", user_id=user_id), 303)
    sess.commit()
    if done and user.is_active:
        flash(f"{user.email} can sign in again.", "success")
    elif done:
        owned = len(owned_open_tickets(sess, user_id))
        extra = f" They still own {owned} open ticket(s); hand them over below." if owned else ""
        flash(
            f"{user.email} is disabled: signed out everywhere, API tokens refused.{extra}",
            "success",
        )
    return redirect(url_for("admin.edit_user", user_id=user_id), 303)


@bp.route("/users/<int:user_id>/tickets", methods=["POST"])
@role_required("admin")
def user_tickets(user_id: int) -> WerkzeugResponse:
    """Assign every open ticket an account owns to one active reviewer or admin."""
    user = _account(user_id)
    form = _hand_over_form(user)
    back = redirect(url_for("admin.edit_user", user_id=user_id), 303)
    if not form.validate():
        if "csrf_token" in form.errors:
            abort(400)
        # An empty or unreadable choice is a choice not made, answered as the others are.
        flash("Choose who takes the tickets over.", "error")
        return back
    sess = db_session()
    to = sess.get(User, form.assignee.data or 0)
    if to is None:
        flash("Choose who takes the tickets over.", "error")
        return back
    try:
        done = hand_over_tickets(sess, user, to=to, actor=current_user._get_current_object())
    except AccountError as exc:
        sess.rollback()
        flash(exc.errors["assignee"], "error")
        return back
    sess.commit()
    flash(
        f"Handed {len(done.moved)} open ticket(s) from {user.email} to {to.display_name}.",
        "success",
    )
    if done.left:
        flash(
            f"{len(done.left)} ticket(s) stay with {user.email} "
            f"({', '.join(f'#{t.id}' for t in done.left)}): {to.display_name} does not cover "
            "their district at their level. Hand them to someone who does.",
            "error",
        )
    return back


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@role_required("admin")
def user_password(user_id: int) -> Any:
    """Set a new password for an account and sign it out everywhere."""
    user = _account(user_id)
    form = PasswordForm()
    sess = db_session()
    if form.validate():
        try:
            set_password(
                sess, user, form.password.data or "", actor=current_user._get_current_object()
            )
        except AccountError as exc:
            sess.rollback()
            form.password.errors = [exc.errors["password"]]
        else:
            sess.commit()
            flash(f"New password set for {user.email}; their sessions have ended.", "success")
            return redirect(url_for("admin.edit_user", user_id=user_id), 303)
    return _account_page(_filled_form(user), user, 422, password_form=form)
