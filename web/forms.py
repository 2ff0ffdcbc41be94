"""The base of every HTML form: CSRF-checked, in the product's words, refusing NUL characters."""

from typing import Any

from flask_wtf import FlaskForm

from web.form_wording import WORDING

NUL_MESSAGE = "Remove the NUL character (\\0); it cannot be stored."


class Form(FlaskForm):
    """A CSRF-checked form whose text fields refuse NUL characters with a message beside them."""

    class Meta:
        def get_translations(self, form: Any) -> Any:
            """Word the library's own validation messages as the rest of the product does."""
            return WORDING

    def validate(self, extra_validators: Any = None) -> bool:
        """Validate every field, then mark each text value holding a NUL character."""
        ok = super().validate(extra_validators)
        for field in self:
            if field.process_errors:
                # A value that could not be read ("12.5" for a whole number) gets that message
                # alone, not also the range or required checks that then saw no value.
                field.errors = list(field.process_errors)
            # PostgreSQL text cannot hold NUL, and SQLite would store it silently: refusing it
            # here gives both databases the same answer, beside the field, before any write.
            if _holds_nul(field.data):
                field.errors = [*field.errors, NUL_MESSAGE]
                ok = False
        return ok


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(isinstance(v, str) and "\x00" in v for v in value)
    return False
