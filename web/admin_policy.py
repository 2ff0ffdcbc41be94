"""Admin pages for the versioned policy: the active values, a new version, the history."""

import math
import re
from collections.abc import Mapping
from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import NumberInput

from conflict.forms import MultiCheckboxField
from models.db import session as db_session
from models.policy import (
    NOTE_MAX,
    PolicyConflict,
    PolicyError,
    PolicyUnchanged,
    active_policy,
    create_policy_version,
)
from web.admin import bp
from web.auth import role_required
from web.forms import Form
from web.policy_history import policy_history
from web.policy_input import (
    BOUNDS,
    DAY_NAMES,
    LEVELS,
    check_policy_input,
    format_number,
    initial_input,
)

# --- the form ------------------------------------------------------------------------------


class WholeNumberField(Field):
    """A whole number; empty input is None, for the check to report."""

    widget = NumberInput(step=1)
    data: Any

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return "" if self.data is None else str(self.data)

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Read the number, refusing anything but digits."""
        text = str(valuelist[0]).strip() if valuelist else ""
        self.data = None
        if not text:
            return
        if not re.fullmatch(r"[+-]?\d{1,15}", text):
            raise ValueError("Enter a whole number, without separators or decimals.")
        self.data = int(text)


class NumberField(WholeNumberField):
    """A finite decimal number; empty input is None, for the check to report."""

    widget = NumberInput(step="any")

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Read the number, refusing text, infinity and NaN."""
        text = str(valuelist[0]).strip() if valuelist else ""
        self.data = None
        if not text:
            return
        try:
            number = float(text)
        except ValueError:
            raise ValueError("Enter a number, e.g. 16 or 7.5.") from None
        if not math.isfinite(number):
            raise ValueError("Enter a number, e.g. 16 or 7.5.")
        self.data = number


class PolicyForm(Form):
    """Every policy value an admin tunes, and why the change is made."""

    base_version = HiddenField()
    pc_threshold = WholeNumberField("PC threshold")
    fuzzy_match_score = NumberField("Fuzzy match score")
    fuzzy_review_score = NumberField("Fuzzy review score")
    high_impact_value = WholeNumberField("High-impact .NET value (whole dollars)")
    sla_hours_1 = NumberField("Level 1 (district)")
    sla_hours_2 = NumberField("Level 2 (region)")
    sla_hours_3 = NumberField("Level 3 (national)")
    exception_sla_hours_1 = NumberField("Level 1 (district)")
    exception_sla_hours_2 = NumberField("Level 2 (region)")
    exception_sla_hours_3 = NumberField("Level 3 (national)")
    sla_warning_hours = NumberField("Due-soon warning (business hours)")
    registration_lifetime_days = WholeNumberField("Registration lifetime (days)")
    reminder_lead_days = WholeNumberField("Expiry reminder (days before)")
    extension_days = WholeNumberField("Extension (days)")
    review_period_months = WholeNumberField("District list review period (months)")
    auto_publish_synced_lists = BooleanField("Publish synced named-account lists automatically")
    timezone = StringField("Time zone", render_kw={"spellcheck": "false", "autocomplete": "off"})
    day_start = StringField("Working day starts (HH:MM)")
    day_end = StringField("Working day ends (HH:MM)")
    workdays = MultiCheckboxField(
        "Working days",
        choices=[SelectChoice(i, name) for i, name in enumerate(DAY_NAMES)],
        coerce=int,
    )
    holidays = TextAreaField("Holidays (one date per line, YYYY-MM-DD)", render_kw={"rows": 8})
    note = TextAreaField("Why this change", render_kw={"rows": 3, "maxlength": NOTE_MAX})


def _range_help(name: str) -> str:
    bound = BOUNDS[name]
    if bound.above:
        return f"More than {format_number(bound.low)} and at most {format_number(bound.high)}."
    kind = "A whole number" if bound.whole else "A number"
    return f"{kind} from {format_number(bound.low)} to {format_number(bound.high)}."


def _sla_help(name: str, level: str) -> str:
    after = "it is marked breached" if level == LEVELS[-1] else "it escalates to the next level"
    return f"Business hours a ticket may spend at this level before {after}. {_range_help(name)}"


# Help under each field, shown on the page and tied to its input.
HELP: dict[str, str] = {
    "pc_threshold": "MCS engages only with accounts of more than this many PCs; a partner "
    "registering a bigger account may overlap with MCS. " + _range_help("pc_threshold"),
    "fuzzy_match_score": "A customer name scoring at least this against a named account counts "
    "as that account (0 to 100).",
    "fuzzy_review_score": "Names scoring from here up to the match score are shown as "
    "look-alikes for a person to check (0 to 100, not above the match score).",
    "high_impact_value": "An MCS early .NET engagement worth at least this much goes to exception "
    "review instead of being rejected. " + _range_help("high_impact_value"),
    **{f"sla_hours_{lvl}": _sla_help(f"sla_hours_{lvl}", lvl) for lvl in LEVELS},
    **{
        f"exception_sla_hours_{lvl}": _sla_help(f"exception_sla_hours_{lvl}", lvl) for lvl in LEVELS
    },
    "sla_warning_hours": "A ticket counts as due soon this many business hours before its SLA "
    "runs out. " + _range_help("sla_warning_hours"),
    "registration_lifetime_days": "An approved registration expires after this many days. "
    + _range_help("registration_lifetime_days"),
    "reminder_lead_days": "The registering user is reminded this many days before expiry; "
    "fewer than the lifetime.",
    "extension_days": "An extension, requested before expiry, adds this many days. "
    + _range_help("extension_days"),
    "review_period_months": "A district's review of a newly published list falls due this many "
    "months after the list takes effect. " + _range_help("review_period_months"),
    "auto_publish_synced_lists": "When off, a list fetched from the source system waits as a "
    "draft for an admin to publish.",
    "timezone": "An IANA time-zone name, e.g. America/New_York or Europe/Berlin; working hours "
    "are local times there.",
    "day_start": "24-hour clock, e.g. 09:00.",
    "day_end": "24-hour clock, e.g. 17:00; after the start.",
    "workdays": "At least one.",
    "holidays": "One date per line, e.g. 2026-12-25. Blank lines and repeats are ignored. "
    "Districts may add holidays of their own.",
    "note": f"Required, at most {NOTE_MAX} characters. Shown in the history next to the change.",
}


def form_input(form: PolicyForm) -> dict[str, Any]:
    """Return the form's typed values by field name."""
    skip = {"csrf_token", "base_version"}
    return {name: f.data for name, f in form._fields.items() if name not in skip}


# --- the views -----------------------------------------------------------------------------


def _attach(form: PolicyForm, errors: Mapping[str, list[str]]) -> None:
    for name, messages in errors.items():
        target = form._fields.get(name)
        if target is None:
            form.form_errors.extend(messages)
        elif not target.errors:
            # A field that could not even be read already says so; one message is enough.
            target.errors = list(messages)


def _page(form: PolicyForm, status: int = 200) -> Any:
    sess = db_session()
    current = active_policy(sess)
    body = render_template(
        "admin/policy.html",
        current=current,
        p=current.values,
        form=form,
        history=policy_history(sess),
        day_names=DAY_NAMES,
        num=format_number,
        help=HELP,
    )
    return body, status


def _base_version(form: PolicyForm) -> int | None:
    text = str(form.base_version.data or "")
    return int(text) if text.isdigit() else None


@bp.route("/policy")
@role_required("admin")
def policy() -> Any:
    """Show the active policy, the form for a new version and the history."""
    current = active_policy(db_session())
    return _page(PolicyForm(formdata=None, data=initial_input(current)))


@bp.route("/policy", methods=["POST"])
@role_required("admin")
def policy_save() -> Any:
    """Save the form as a new active policy version, or show what is wrong with it."""
    form = PolicyForm()
    read = form.validate()
    checked, errors = check_policy_input(form_input(form))
    _attach(form, errors)
    if not read or checked is None:
        return _page(form, 422)
    sess = db_session()
    try:
        row = create_policy_version(
            sess,
            checked.values,
            note=checked.note,
            actor_id=current_user.id,
            based_on=_base_version(form),
        )
    except PolicyConflict as exc:
        sess.rollback()
        form.form_errors.append(
            f"{exc} The active values are shown above; your entries are kept below."
        )
        form.base_version.data = str(active_policy(sess).version)
        return _page(form, 409)
    except PolicyUnchanged as exc:
        sess.rollback()
        form.form_errors.append(str(exc))
        return _page(form, 422)
    except PolicyError as exc:
        sess.rollback()
        form.note.errors = [str(exc)]
        return _page(form, 422)
    sess.commit()
    flash(
        f"Saved policy version {row.version}. It applies to registrations submitted and "
        "tickets opened from now on; decisions already taken keep their version.",
        "success",
    )
    return redirect(url_for("admin.policy"), 303)
