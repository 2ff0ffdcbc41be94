"""Admin pages for partner organisations: the list, a new partner, changes to one."""

from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import aliased
from sqlmodel import col
from wtforms import (
    BooleanField,
    IntegerField,
    SelectField,
    StringField,
    SubmitField,
    ValidationError,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from conflict.forms import MultiCheckboxField
from conflict.partners import (
    MAX_POINTS,
    NAME_MAX,
    PartnerData,
    PartnerError,
    coordinator_candidates,
    create_partner,
    update_partner,
)
from models import District, Partner, User
from models.db import session as db_session
from models.partner import CERTIFIED_POINTS, COMPETENCIES, GOLD_POINTS, TIER_LABELS
from web.admin import bp
from web.auth import role_required
from web.forms import Form
from web.templating import label

# Said once here and shown beside the Active box: the only places the code reads the flag
# are the partner-of-record and seat-credit services and the list-review e-mails.
INACTIVE_MEANS = (
    "An inactive partner can no longer be made a customer's partner of record or be credited "
    "seats, and its users are not e-mailed when their district's named-account list review "
    "opens; its users still sign in and register deals, and its tickets are handled as before."
)
HELP: dict[str, str] = {
    "name": "The organisation's name as everyone sees it; no two partners share one, in any case.",
    "points": (
        f"Programme points decide the tier: {CERTIFIED_POINTS} make the partner "
        f"{TIER_LABELS['certified']}, {GOLD_POINTS} {TIER_LABELS['gold']}; "
        f"fewer than {CERTIFIED_POINTS} leave it {TIER_LABELS['registered']}."
    ),
    "district": (
        "The sales district the partner works in; its users are told when that district's "
        "named-account list review opens."
    ),
    "competencies": "The competency areas the partner holds.",
    "technical_coordinator_id": (
        f"Matters for {TIER_LABELS['gold']} partners ({GOLD_POINTS} points or more): this "
        "reviewer owns the partner's escalations until they are resolved, whatever the "
        "district. Other partners' tickets go to the district's reviewers."
    ),
    "active": INACTIVE_MEANS,
}
# How the flash message after a change names each field.
FIELD_NAMES: dict[str, str] = {
    "name": "name",
    "points": "points",
    "district": "district",
    "competencies": "competencies",
    "technical_coordinator_id": "technical coordinator",
    "active": "active",
}


class PartnerForm(Form):
    """A partner organisation's name, points, district, competencies and coordinator."""

    name = StringField(
        "Name",
        validators=[
            DataRequired("Enter the partner's name."),
            Length(max=NAME_MAX, message=f"Use at most {NAME_MAX} characters."),
        ],
    )
    points = IntegerField(
        "Points",
        default=0,
        validators=[
            InputRequired("Enter the partner's points, 0 or more."),
            NumberRange(min=0, max=MAX_POINTS, message=f"Enter 0 to {MAX_POINTS:,} points."),
        ],
    )
    # Choices are checked by the service, which says what is wrong in words.
    district = SelectField("District", validate_choice=False)
    competencies = MultiCheckboxField(
        "Competencies",
        choices=[SelectChoice(c, label(c)) for c in COMPETENCIES],
        validate_choice=False,
    )
    technical_coordinator_id = SelectField("Technical coordinator", validate_choice=False)
    active = BooleanField("Active", default=True)
    submit = SubmitField("Save")

    def validate_technical_coordinator_id(self, field: SelectField) -> None:
        """Refuse a coordinator value that is not a user id."""
        if field.data and not str(field.data).isdigit():
            raise ValidationError("Choose a coordinator from the list, or no coordinator.")

    def to_data(self) -> PartnerData:
        """Return the service input the form holds."""
        coordinator = str(self.technical_coordinator_id.data or "")
        return PartnerData(
            name=self.name.data or "",
            points=self.points.data or 0,
            district=self.district.data or None,
            competencies=list(self.competencies.data or []),
            technical_coordinator_id=int(coordinator) if coordinator else None,
            active=bool(self.active.data),
        )

    def show_errors(self, errors: dict[str, str]) -> None:
        """Put the service's messages beside their fields."""
        for name, message in errors.items():
            target = getattr(self, name, None) or self.name
            target.errors = [*target.errors, message]


def _person(user: User) -> str:
    return f"{user.display_name} ({user.email})"


def _fill_choices(form: PartnerForm, partner: Partner | None) -> None:
    sess = db_session()
    districts = sess.execute(sa.select(District.code, District.name).order_by(District.name))
    form.district.choices = [SelectChoice("", "No district")]
    form.district.choices += [SelectChoice(code, name) for code, name in districts]
    people = {str(u.id): _person(u) for u in coordinator_candidates(sess)}
    current = partner.technical_coordinator_id if partner else None
    if current is not None and str(current) not in people:
        # Kept on the form so an unrelated change does not silently drop the coordinator.
        user = sess.get(User, current)
        name = _person(user) if user else f"user {current}"
        people[str(current)] = f"{name}: not an active reviewer, so not routed tickets"
    form.technical_coordinator_id.choices = [SelectChoice("", "No coordinator")]
    form.technical_coordinator_id.choices += [SelectChoice(k, v) for k, v in people.items()]


def _filled_form(partner: Partner) -> PartnerForm:
    form = PartnerForm(formdata=None, obj=partner)
    form.district.data = partner.district or ""
    form.technical_coordinator_id.data = str(partner.technical_coordinator_id or "")
    form.competencies.data = list(partner.competencies or [])
    _fill_choices(form, partner)
    return form


def _user_count(partner_id: int) -> int:
    return (
        db_session()
        .execute(
            sa.select(sa.func.count()).select_from(User).where(col(User.partner_id) == partner_id)
        )
        .scalar_one()
    )


def _form_page(form: PartnerForm, partner: Partner | None, status: int = 200) -> Any:
    context: dict[str, Any] = {"form": form, "partner": partner, "help": HELP}
    if partner is not None and partner.id is not None:
        context["user_count"] = _user_count(partner.id)
    return render_template("admin/partner_form.html", **context), status


def _partner(partner_id: int) -> Partner:
    partner = db_session().get(Partner, partner_id)
    if partner is None:
        abort(404)
    return partner


def _actor_id() -> int | None:
    return current_user.id  # type: ignore[no-any-return]


@bp.route("/partners")
@role_required("admin")
def partners() -> Any:
    """List partner organisations with their tier, coordinator and number of users."""
    coordinator = aliased(User)
    users = (
        sa.select(col(User.partner_id).label("partner_id"), sa.func.count().label("n"))
        .where(col(User.partner_id).is_not(None))
        .group_by(col(User.partner_id))
        .subquery()
    )
    rows = db_session().execute(
        sa.select(Partner, coordinator, sa.func.coalesce(users.c.n, 0))
        .outerjoin(coordinator, coordinator.id == Partner.technical_coordinator_id)
        .outerjoin(users, users.c.partner_id == Partner.id)
        .order_by(Partner.name)
    )
    return render_template("admin/partners.html", rows=rows.all())


@bp.route("/partners/new", methods=["GET", "POST"])
@role_required("admin")
def new_partner() -> Any:
    """Create a partner organisation."""
    form = PartnerForm()
    _fill_choices(form, None)
    if request.method == "GET":
        return _form_page(form, None)
    if not form.validate():
        return _form_page(form, None, 422)
    sess = db_session()
    try:
        partner = create_partner(sess, form.to_data(), actor_id=_actor_id())
    except PartnerError as exc:
        sess.rollback()
        form.show_errors(exc.errors)
        return _form_page(form, None, 422)
    sess.commit()
    flash(f"Created {partner.name} ({partner.tier_label}).", "success")
    return redirect(url_for("admin.partners"), 303)


@bp.route("/partners/<int:partner_id>/edit", methods=["GET", "POST"])
@role_required("admin")
def edit_partner(partner_id: int) -> Any:
    """Show a partner organisation's settings and change them."""
    partner = _partner(partner_id)
    if request.method == "GET":
        return _form_page(_filled_form(partner), partner)
    form = PartnerForm()
    _fill_choices(form, partner)
    if not form.validate():
        return _form_page(form, partner, 422)
    sess = db_session()
    try:
        changed = update_partner(sess, partner, form.to_data(), actor_id=_actor_id())
    except PartnerError as exc:
        sess.rollback()
        form.show_errors(exc.errors)
        return _form_page(form, _partner(partner_id), 422)
    sess.commit()
    if changed:
        fields = ", ".join(FIELD_NAMES.get(k, k) for k in changed)
        flash(f"Saved {partner.name}: {fields} changed.", "success")
    else:
        flash(f"Nothing about {partner.name} changed.", "info")
    return redirect(url_for("admin.partners"), 303)
