"""WTForms for the reviewer queue and the ticket page."""

from wtforms import (
    BooleanField,
    HiddenField,
    SelectField,
    SelectMultipleField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length

from escalation.states import (
    MIN_RATIONALE_CHARS,
    PARTNER_OVERLAP_RULE,
    PARTNER_PAIR_CHOICES,
    RESOLUTION_LABELS,
    resolutions_for,
)
from web.forms import Form


def choice_list(pairs: list[tuple[object, str]]) -> list[SelectChoice]:
    """Return select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]  # type: ignore[arg-type]


def resolution_choices(ticket_type: str, rule: str | None = None) -> list[SelectChoice]:
    """Return the resolutions that may close a ticket of this type and rule, with a prompt first."""
    allowed = resolutions_for(ticket_type, rule)
    # Between two partners "Partner leads" alone would not say which partner: say it in full.
    labels = PARTNER_PAIR_CHOICES if rule == PARTNER_OVERLAP_RULE else RESOLUTION_LABELS
    return choice_list(
        [("", "Choose a resolution")]
        + [(value, label) for value, label in labels.items() if value in allowed]
    )


class ActionForm(Form):
    """A button-only form (claim, release): the CSRF token is its only field."""

    submit = SubmitField("Claim")


class CommentForm(Form):
    """Add a comment to the timeline."""

    body = TextAreaField("Comment", validators=[DataRequired(), Length(max=4000)])
    internal = BooleanField("Internal note (reviewers and admins only)")
    submit = SubmitField("Add comment")


class DecisionForm(Form):
    """Decide a ticket."""

    resolution = SelectField("Resolution", validators=[InputRequired()], choices=[])
    rationale = TextAreaField(
        "Rationale",
        validators=[
            DataRequired(message="Write the rationale for the decision."),
            Length(
                min=MIN_RATIONALE_CHARS,
                max=4000,
                message=f"Write between {MIN_RATIONALE_CHARS} and 4000 characters.",
            ),
        ],
    )
    submit = SubmitField("Decide")


class AssignForm(Form):
    """Assign a ticket to a reviewer."""

    assignee = SelectField("Assign to", coerce=int, choices=[], validators=[InputRequired()])
    submit = SubmitField("Assign")


class EscalateForm(Form):
    """Escalate a ticket one level."""

    reason = TextAreaField(
        "Reason for escalating", validators=[DataRequired(), Length(min=3, max=2000)]
    )
    submit = SubmitField("Escalate")


class ReopenForm(Form):
    """Reopen a decided ticket."""

    reason = TextAreaField(
        "Reason for reopening", validators=[DataRequired(), Length(min=3, max=2000)]
    )
    submit = SubmitField("Reopen")


class BulkForm(Form):
    """Claim or assign the tickets ticked in the queue (or claim one by its row button)."""

    ticket_ids = SelectMultipleField("Tickets", coerce=int, validate_choice=False)
    claim_id = HiddenField()
    action = SelectField(
        "With the selected tickets",
        choices=choice_list([("claim", "Claim them"), ("assign", "Assign them to")]),
        default="claim",
    )
    assignee = SelectField("Assignee", coerce=int, choices=[], validate_choice=False, default=0)
    next = HiddenField()
    submit = SubmitField("Apply to selected")
