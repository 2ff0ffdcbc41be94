"""The base of every HTML form: CSRF-checked, in the product's words, refusing NUL characters."""

from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, PasswordField, StringField, TextAreaField

from conflict.schemas import single_line_problem
from web.form_wording import WORDING, one_line_message

NUL_MESSAGE = "Remove the NUL character (\\0); it cannot be stored."


class Form(FlaskForm):
    """A CSRF-checked form whose text fields refuse NUL, and one-line fields control characters."""

    class Meta:
        def get_translations(self, form: Any) -> Any:
            """Word the library's own validation messages as the rest of the product does."""
            return WORDING

    def validate(self, extra_validators: Any = None) -> bool:
        """Validate every field, then mark each text value the product cannot store as given."""
        ok = super().validate(extra_validators)
        for field in self:
            if field.process_errors and _was_typed(field):
                # A value that could not be read ("12.5" for a whole number) gets that message
                # alone, not also the range or required checks that then saw no value. A field
                # left blank was read as nothing: Optional() cleared its message, and it stays so.
                field.errors = list(field.process_errors)
            # PostgreSQL text cannot hold NUL, and SQLite would store it silently: refusing it
            # here gives both databases the same answer, beside the field, before any write.
            if _holds_nul(field.data):
                field.errors = [*field.errors, NUL_MESSAGE]
                ok = False
            elif is_single_line(field) and isinstance(field.data, str):
                problem = single_line_problem(field.data)
                if problem is not None:
                    field.errors = [*field.errors, one_line_message(problem)]
                    ok = False
        return ok


def _was_typed(field: Field) -> bool:
    return any(str(value).strip() for value in (field.raw_data or []))


def is_single_line(field: Field) -> bool:
    """Return True for a text field meant to hold one line (not a text area or a password)."""
    # A password is only ever hashed, never shown or sent on: refusing characters in it would
    # only lock out whoever chose them.
    return isinstance(field, StringField) and not isinstance(field, TextAreaField | PasswordField)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(isinstance(v, str) and "\x00" in v for v in value)
    return False
