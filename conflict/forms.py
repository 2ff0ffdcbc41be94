"""Forms for deal registration, its follow-up actions, DPOR designation and seat credits."""

import secrets
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.validators import ValidationError as FieldError

from conflict.schemas import (
    CLOSE_DATE_HORIZON_YEARS,
    MAX_ESTIMATED_VALUE,
    MAX_PC_COUNT,
    RegistrationCreate,
    check_close_date,
    check_country,
    close_date_window,
)
from conflict.types import MATURITY_LEVELS, SOLUTION_STACKS, WORKLOAD_LABELS, WORKLOADS
from models.partner import COMPETENCIES
from models.registration import REG_STATUSES
from models.seat_credit import EVIDENCE_SOURCES
from web.forms import Form

STACK_LABELS: dict[str, str] = {
    "all_microsoft": "All-Microsoft solution",
    "competitive_middleware": "Microsoft operating system with competitive middleware",
}
# The four levels of the core infrastructure maturity model, in the model's own words.
MATURITY_HELP: dict[str, str] = {
    "basic": "Basic: a rather chaotic infrastructure with no processes; IT reacts to problems.",
    "standardized": (
        "Standardized: common standards and some processes across the company, "
        "but little automation."
    ),
    "rationalized": (
        "Rationalized: standards and processes with automation; IT is managed proactively "
        "and costs are under control."
    ),
    "dynamic": (
        "Dynamic: a fully managed, largely automated infrastructure that adapts to the "
        "business and steps up to new capabilities in a defined manner."
    ),
}
EVIDENCE_LABELS: dict[str, str] = {
    "ea_open": "EA/Open transacting-partner record",
    "csp": "CSP commerce record",
    "fasttrack": "FastTrack onboarding record",
    "delegated_admin": "Delegated admin privileges on the workload",
}
assert set(WORKLOAD_LABELS) == set(WORKLOADS)
assert set(STACK_LABELS) == set(SOLUTION_STACKS)
assert set(MATURITY_HELP) == set(MATURITY_LEVELS)
assert set(EVIDENCE_LABELS) == set(EVIDENCE_SOURCES)

# Help text shown under each field (and used by the template's aria-describedby).
HELP: dict[str, str] = {
    "customer_name": "The customer's legal or trading name, e.g. Contoso Ltd.",
    "customer_domain": (
        "The customer's own web domain, e.g. contoso.com. A web address or an e-mail "
        "address works too; it makes the named-account check exact."
    ),
    "district": "The vendor sales district the customer belongs to, if you know it.",
    "country": "Two-letter country code of the customer's head office, e.g. US.",
    "pc_count": (
        "Approximate number of PCs at the customer. The direct arm engages only with "
        "accounts above the policy threshold (4,000 PCs by default)."
    ),
    "workloads": (
        "Everything you will sell or deploy. Several partners may serve one customer on "
        "different workloads."
    ),
    "solution_stack": (
        "Partners selling an all-Microsoft solution get priority over partners selling the "
        "operating system with competitive middleware."
    ),
    "dotnet_early_adoption": (
        "Tick when the deal is an early adoption of .NET. High-impact early .NET deals can be "
        "reviewed as exceptions; an estimated value is then required."
    ),
    "estimated_value": f"Expected deal value in whole US dollars, up to {MAX_ESTIMATED_VALUE:,}.",
    "expected_close_date": (
        "When you expect the deal to close (YYYY-MM-DD): from today to "
        f"{CLOSE_DATE_HORIZON_YEARS} years ahead."
    ),
    "infrastructure_maturity": " ".join(MATURITY_HELP[level] for level in MATURITY_LEVELS),
    "notes": "Anything a channel manager should know when reviewing this registration.",
    "party": "Who the engagement is registered for.",
}


def choice_list(pairs: Iterable[tuple[Any, str]]) -> list[SelectChoice]:
    """Turn (value, label) pairs into select choices."""
    return [SelectChoice(value, label) for value, label in pairs]


def _choices(labels: dict[str, str], blank: str | None = None) -> list[SelectChoice]:
    items = list(labels.items())
    return choice_list([("", blank), *items] if blank is not None else items)


class MultiCheckboxField(SelectMultipleField):
    """A multiple choice rendered as a list of checkboxes."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


def new_nonce() -> str:
    """Return a fresh one-time submission nonce for a rendered form."""
    return secrets.token_urlsafe(24)


class RegistrationForm(Form):
    """The deal-registration form (partners) and engagement form (MCS)."""

    customer_name = StringField(
        "Customer name",
        validators=[
            DataRequired("Enter the customer's name."),
            Length(min=2, max=300, message="Use between 2 and 300 characters."),
        ],
    )
    customer_domain = StringField(
        "Customer web domain",
        validators=[Optional(), Length(max=253, message="Use at most 253 characters.")],
    )
    district = SelectField("District", choices=choice_list([("", "Not known")]), default="")
    country = StringField(
        "Country",
        default="US",
        # Stripped before the length check, as the API reads " de " as DE.
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        validators=[
            DataRequired("Enter a two-letter country code such as US."),
            Length(min=2, max=2, message="Use a two-letter country code such as US."),
        ],
    )
    pc_count = IntegerField(
        "Number of PCs",
        validators=[
            Optional(),
            NumberRange(
                min=0, max=MAX_PC_COUNT, message=f"Enter a number from 0 to {MAX_PC_COUNT:,}."
            ),
        ],
    )
    workloads = MultiCheckboxField(
        "Workloads",
        choices=_choices(WORKLOAD_LABELS),
        validators=[DataRequired("Choose at least one workload.")],
    )
    solution_stack = SelectField(
        "Solution stack", choices=_choices(STACK_LABELS, "Not stated"), default=""
    )
    dotnet_early_adoption = BooleanField("Early .NET adoption")
    estimated_value = IntegerField(
        "Estimated value (USD)",
        validators=[
            Optional(),
            NumberRange(
                min=0,
                max=MAX_ESTIMATED_VALUE,
                message=f"Enter a whole amount from 0 to {MAX_ESTIMATED_VALUE:,}.",
            ),
        ],
    )
    expected_close_date = DateField(
        "Expected close date", validators=[Optional()], format="%Y-%m-%d"
    )
    infrastructure_maturity = SelectField(
        "Infrastructure maturity",
        choices=choice_list(
            [("", "Not assessed")] + [(m, m.capitalize()) for m in MATURITY_LEVELS]
        ),
        default="",
    )
    notes = TextAreaField(
        "Notes", validators=[Length(max=4000, message="Use at most 4,000 characters.")]
    )
    nonce = HiddenField(
        validators=[
            DataRequired("This form has expired. Check the fields and submit again."),
            Length(min=16, max=64),
        ]
    )
    submit = SubmitField("Submit registration")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The date picker offers only the dates the server accepts today.
        earliest, latest = close_date_window()
        self.expected_close_date.render_kw = {
            "min": earliest.isoformat(),
            "max": latest.isoformat(),
        }

    def validate_country(self, field: StringField) -> None:
        """Refuse a code that is not an ISO 3166-1 country, beside the field."""
        if field.data and not field.errors:
            try:
                check_country(field.data)
            except ValueError as exc:
                raise FieldError(_sentence(str(exc))) from exc

    def validate_expected_close_date(self, field: DateField) -> None:
        """Refuse a close date in the past or beyond the horizon, beside the field."""
        if field.data is not None:
            try:
                check_close_date(field.data)
            except ValueError as exc:
                raise FieldError(_sentence(str(exc))) from exc

    def set_districts(self, districts: list[tuple[str, str]]) -> None:
        """Offer the known districts as (code, display name) choices."""
        self.district.choices = choice_list([("", "Not known"), *districts])

    def to_input(self) -> RegistrationCreate | None:
        """Return the validated service input, or None after putting errors beside the fields."""
        data: dict[str, Any] = {
            "customer_name": self.customer_name.data or "",
            "customer_domain": (self.customer_domain.data or "").strip() or None,
            "district": self.district.data or None,
            "country": (self.country.data or "").strip() or None,
            "pc_count": self.pc_count.data,
            "workloads": list(self.workloads.data or []),
            "solution_stack": self.solution_stack.data or None,
            "dotnet_early_adoption": bool(self.dotnet_early_adoption.data),
            "estimated_value": self.estimated_value.data,
            "expected_close_date": self.expected_close_date.data,
            "infrastructure_maturity": self.infrastructure_maturity.data or None,
            "notes": self.notes.data or "",
        }
        try:
            return RegistrationCreate.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                self.add_error(_field_of(err), _message_of(err))
            return None

    def add_error(self, name: str | None, message: str) -> None:
        """Attach a message to a field, or to the form as a whole when no field fits."""
        target = getattr(self, name, None) if name else None
        if target is None or not hasattr(target, "errors"):
            self.form_errors.append(message)
            return
        if not isinstance(target.errors, list):
            target.errors = list(target.errors)
        if message not in target.errors:
            target.errors.append(message)


def _field_of(err: Any) -> str | None:
    loc = err.get("loc") or ()
    if loc:
        return str(loc[0])
    # Whole-model rules: the only one concerns the value a .NET exception needs.
    if "estimated value" in str(err.get("msg", "")):
        return "estimated_value"
    return None


def _message_of(err: Any) -> str:
    message = str(err.get("msg", "This value is not valid."))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return _sentence(message)


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


class ReasonForm(Form):
    """A reason for withdrawing a registration or asking to extend it."""

    reason = TextAreaField(
        "Reason",
        validators=[
            DataRequired("Say why."),
            Length(min=5, max=2000, message="Use between 5 and 2,000 characters."),
        ],
    )


class WithdrawForm(ReasonForm):
    """Withdraw an open registration."""

    submit = SubmitField("Withdraw registration")


class ExtensionForm(ReasonForm):
    """Ask once, before expiry, for more time on an approved registration."""

    submit = SubmitField("Request extension")


class OverrideForm(ReasonForm):
    """Ask for the national (level-3) exception that alone can lift a no-bid block."""

    submit = SubmitField("Ask for a national override")


class DporForm(Form):
    """Record the customer's Digital Partner of Record for one workload."""

    customer_name = StringField(
        "Customer name",
        validators=[DataRequired("Enter the customer's name."), Length(min=2, max=300)],
    )
    workload = SelectField("Workload", choices=_choices(WORKLOAD_LABELS))
    partner_id = SelectField("Partner of record", coerce=int, choices=[])
    submit = SubmitField("Record partner of record")


class SeatCreditForm(Form):
    """Credit seats on a customer's workload to a partner, with the evidence behind them."""

    customer_name = StringField(
        "Customer name",
        validators=[DataRequired("Enter the customer's name."), Length(min=2, max=300)],
    )
    partner_id = SelectField("Partner", coerce=int, choices=[])
    workload = SelectField("Workload", choices=_choices(WORKLOAD_LABELS))
    seats = IntegerField(
        "Seats",
        validators=[
            InputRequired("Enter the number of seats."),
            NumberRange(min=1, max=10_000_000, message="Enter at least one seat."),
        ],
    )
    source = SelectField("Evidence source", choices=_choices(EVIDENCE_LABELS))
    evidence_ref = StringField(
        "Evidence reference",
        validators=[
            DataRequired("Give the record that proves the seats (order, agreement or case id)."),
            Length(max=200),
        ],
    )
    competency = SelectField(
        "Competency",
        choices=choice_list(
            [("", "From the workload")]
            + [(c, c.replace("_", " ").capitalize()) for c in COMPETENCIES]
        ),
        default="",
    )
    submit = SubmitField("Record seat credit")


class RegistrationFilterForm(Form):
    """Filters of the registrations list (a GET search, so no CSRF token)."""

    class Meta:
        csrf = False

    status = SelectField(
        "Status",
        choices=choice_list(
            [("", "Any status")] + [(s, s.replace("_", " ").capitalize()) for s in REG_STATUSES]
        ),
        default="",
    )
    customer = StringField("Customer contains", validators=[Optional(), Length(max=300)])
    submitted_from = DateField("Submitted from", validators=[Optional()])
    submitted_to = DateField("Submitted to", validators=[Optional()])

    def validate_submitted_to(self, field: DateField) -> None:
        """Refuse a range that ends before it starts (it could match nothing)."""
        start = self.submitted_from.data
        if field.data is not None and start is not None and field.data < start:
            raise FieldError("The end date is before the start date.")
