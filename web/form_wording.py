"""The product's wording for the form library's built-in validation messages."""

# Keyed by the library's own message (its format placeholders kept), so a field that sets its
# own message is left as it is; anything not listed here reads as the library wrote it.
MESSAGES: dict[str, str] = {
    "This field is required.": "Fill in this field.",
    "Not a valid integer value.": "Enter a whole number.",
    "Not a valid decimal value.": "Enter a number.",
    "Not a valid float value.": "Enter a number.",
    "Not a valid date value.": "Enter a date as YYYY-MM-DD.",
    "Not a valid datetime value.": "Enter a date and time as YYYY-MM-DD HH:MM.",
    "Not a valid choice.": "Choose one of the options offered.",
    "'%(value)s' is not a valid choice for this field.": (
        "'%(value)s' is not one of the options offered."
    ),
    "'%(value)s' are not valid choices for this field.": (
        "'%(value)s' are not among the options offered."
    ),
    "Invalid email address.": "Enter an e-mail address such as name@example.com.",
    "Field must be between %(min)d and %(max)d characters long.": (
        "Use between %(min)d and %(max)d characters."
    ),
    "Field cannot be longer than %(max)d character.": "Use at most %(max)d character.",
    "Field cannot be longer than %(max)d characters.": "Use at most %(max)d characters.",
    "Field must be at least %(min)d character long.": "Use at least %(min)d character.",
    "Field must be at least %(min)d characters long.": "Use at least %(min)d characters.",
    "Number must be at least %(min)s.": "Enter a number of at least %(min)s.",
    "Number must be at most %(max)s.": "Enter a number of at most %(max)s.",
    "Number must be between %(min)s and %(max)s.": "Enter a number from %(min)s to %(max)s.",
    "Field must be equal to %(other_name)s.": "This must match %(other_name)s.",
}


class Wording:
    """Translations in the form library's sense: its messages, in the product's words."""

    def gettext(self, string: str) -> str:
        """Return the product's wording of one message."""
        return MESSAGES.get(string, string)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Return the product's wording of a message that depends on a count."""
        return self.gettext(singular if n == 1 else plural)


WORDING = Wording()


def one_line_message(problem: str) -> str:
    """Word the refusal of a character a one-line field cannot hold ("the line break")."""
    return f"Remove {problem}: this field takes one line of plain text."
