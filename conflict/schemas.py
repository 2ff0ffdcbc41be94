"""Validated input for a registration, shared by the form, the API and the command line."""

import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from conflict.countries import is_country_code
from conflict.normalize import is_free_mail_domain, normalize_domain
from conflict.types import MATURITY_LEVELS, SOLUTION_STACKS, WORKLOADS
from models.base import utcnow

# The estimated value is stored in a 32-bit integer column of whole dollars.
MAX_ESTIMATED_VALUE = 2**31 - 1
MAX_PC_COUNT = 10_000_000
# How far ahead a deal may plausibly be expected to close.
CLOSE_DATE_HORIZON_YEARS = 5


def refuse_nul(value: str) -> str:
    """Refuse text holding a NUL character, which PostgreSQL text cannot store."""
    # Refused here, at the edge, rather than failing in the database as a bare 400.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Any text taken from a request body or query string.
NulFreeStr = Annotated[str, AfterValidator(refuse_nul)]

# C0 and C1 controls (CR, LF and TAB among them), the Unicode line and paragraph separators,
# and the bidirectional embeddings, overrides and isolates.
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def single_line_problem(value: str) -> str | None:
    """Return what keeps a text from being one line of plain text ("the line break"), or None."""
    # A name goes into e-mail subjects and headers, CSV exports and one-line page titles: a line
    # break there starts a new header or row, and a direction override makes the text read
    # differently from what is stored.
    found = _NOT_ONE_LINE.search(value)
    if found is None:
        return None
    char = found.group()
    if char in "\r\n\u2028\u2029\x85":
        return "the line break"
    if char == "\t":
        return "the tab"
    if "\u202a" <= char <= "\u202e" or "\u2066" <= char <= "\u2069":
        return f"the text-direction control character (U+{ord(char):04X})"
    return f"the control character (U+{ord(char):04X})"


def refuse_control_characters(value: str) -> str:
    """Refuse text that is not one line of plain text."""
    problem = single_line_problem(value)
    if problem is not None:
        raise ValueError(f"remove {problem}: this field takes one line of plain text")
    return value


# Text that is one line: names, domains, codes, labels, titles.
SingleLineStr = Annotated[
    str, AfterValidator(refuse_nul), AfterValidator(refuse_control_characters)
]


# Pydantic words a validator's own sentence as "Value error, <sentence>"; people get the sentence.
VALIDATOR_PREFIXES = ("Value error, ", "Assertion failed, ")


# The validation library's own words for length bounds, said as the rest of the product says them.
_LENGTH_WORDS = (
    (re.compile(r"^String should have at least (\d+) characters?$"), "use at least {} characters"),
    (re.compile(r"^String should have at most (\d+) characters?$"), "use at most {} characters"),
)


def field_message(message: str) -> str:
    """Return a validation message without the prefix the validation library puts before it."""
    for prefix in VALIDATOR_PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    for pattern, words in _LENGTH_WORDS:
        found = pattern.match(message)
        if found:
            return words.format(found.group(1))
    return message


def refuse_bool(value: object) -> object:
    """Refuse true and false where a whole number is expected."""
    # Lax parsing would store true as 1; numeric strings stay accepted for the form's pre-check.
    if isinstance(value, bool):
        raise ValueError("enter a whole number, not true or false")
    return value


# The bounds come before the validator: after it, they drop out of the OpenAPI document.
PcCount = Annotated[int, Field(ge=0, le=MAX_PC_COUNT), BeforeValidator(refuse_bool)]
EstimatedValue = Annotated[int, Field(ge=0, le=MAX_ESTIMATED_VALUE), BeforeValidator(refuse_bool)]


def close_date_window() -> tuple[date, date]:
    """Return the earliest and latest expected close date accepted today."""
    today = utcnow().date()
    # The day before in UTC is still today for partners west of Greenwich (down to UTC-12).
    earliest = today - timedelta(days=1)
    try:
        latest = today.replace(year=today.year + CLOSE_DATE_HORIZON_YEARS)
    except ValueError:  # 29 February, in a year that has none
        latest = today.replace(year=today.year + CLOSE_DATE_HORIZON_YEARS, day=28)
    return earliest, latest


def check_close_date(value: date) -> date:
    """Refuse an expected close date in the past or beyond the planning horizon."""
    earliest, latest = close_date_window()
    if not earliest <= value <= latest:
        raise ValueError(
            f"enter a close date from today to {CLOSE_DATE_HORIZON_YEARS} years ahead "
            f"(no later than {latest.isoformat()})"
        )
    return value


def check_country(value: str) -> str:
    """Return an ISO 3166-1 alpha-2 country code in capitals, or refuse the value."""
    code = value.strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise ValueError("use a two-letter country code such as US")
    if not is_country_code(code):
        raise ValueError(f"{code} is not an ISO 3166-1 country code; use one such as US, GB or DE")
    return code


Workload = Literal[
    "dotnet_server",
    "middleware",
    "windows_server",
    "sql_server",
    "exchange",
    "sharepoint",
    "yammer",
    "skype",
    "office365",
    "azure",
    "dynamics",
]
Stack = Literal["all_microsoft", "competitive_middleware"]
Maturity = Literal["basic", "standardized", "rationalized", "dynamic"]
assert set(Workload.__args__) == set(WORKLOADS)  # type: ignore[attr-defined]
assert set(Stack.__args__) == set(SOLUTION_STACKS)  # type: ignore[attr-defined]
assert set(Maturity.__args__) == set(MATURITY_LEVELS)  # type: ignore[attr-defined]


class RegistrationCreate(BaseModel):
    """A new registration (deal registration by a partner, engagement by MCS)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_name: SingleLineStr = Field(min_length=2, max_length=300)
    customer_domain: SingleLineStr | None = Field(default=None, max_length=253)
    district: SingleLineStr | None = Field(default=None, max_length=40)
    country: SingleLineStr | None = Field(default="US", min_length=2, max_length=2)
    pc_count: PcCount | None = None
    workloads: list[Workload] = Field(min_length=1, max_length=len(WORKLOADS))
    solution_stack: Stack | None = None
    dotnet_early_adoption: bool = False
    # Checked when absent too: the early .NET flag makes it required.
    estimated_value: EstimatedValue | None = Field(default=None, validate_default=True)
    expected_close_date: date | None = None
    infrastructure_maturity: Maturity | None = None
    notes: NulFreeStr = Field(default="", max_length=4000)
    party: Literal["partner", "mcs"] | None = None

    @field_validator("customer_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        normalized = normalize_domain(value)
        if normalized is None and is_free_mail_domain(value):
            raise ValueError(
                "enter the customer's own web domain, such as contoso.com "
                "(free-mail domains such as gmail.com do not identify a company)"
            )
        if normalized is None:
            raise ValueError("enter a web domain such as contoso.com")
        return normalized

    # Before the length bounds, so "USA" reads as a country code to fix, not a string too long.
    @field_validator("country", mode="before")
    @classmethod
    def _country(cls, value: object) -> object:
        if not isinstance(value, str) or single_line_problem(value) is not None:
            return value  # Not text, or not one line: the field's own checks say which.
        return check_country(value)

    @field_validator("expected_close_date")
    @classmethod
    def _close_date(cls, value: date | None) -> date | None:
        return None if value is None else check_close_date(value)

    @field_validator("workloads")
    @classmethod
    def _unique_workloads(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @field_validator("estimated_value")
    @classmethod
    def _exception_needs_value(cls, value: int | None, info: ValidationInfo) -> int | None:
        # Reported on the value, where the answer is, rather than on the request as a whole.
        if value is None and info.data.get("dotnet_early_adoption"):
            raise ValueError("an early .NET adoption flag needs an estimated value")
        return value


def validate_dry_run(fields: dict[str, Any]) -> "RegistrationCreate":
    """Validate a dry run's input as a submission's, letting it name no workload yet."""
    # A submission needs a workload; a live check or the check command may leave them out, and
    # the rules then see none. Raises pydantic's ValidationError like model_validate.
    given = list(fields.get("workloads") or [])
    data = RegistrationCreate.model_validate({**fields, "workloads": given or [WORKLOADS[0]]})
    return data if given else data.model_copy(update={"workloads": []})


class RegistrationPublic(BaseModel):
    """A registration as the API returns it."""

    id: int
    status: str
    party: str
    partner_id: int | None
    customer_name: str
    customer_domain: str | None
    district: str | None
    country: str | None
    pc_count: int | None
    workloads: list[str]
    solution_stack: str | None
    dotnet_early_adoption: bool
    estimated_value: int | None
    expected_close_date: date | None
    infrastructure_maturity: str | None
    notes: str | None = Field(
        description="Null where the viewer may not read them (MCS on a partner's deal)."
    )
    findings: list[dict[str, object]]
    ticket_id: int | None
    ticket_ids: list[int]
    list_version_id: int | None
    policy_version_id: int | None
    submitted_at: str
    expires_at: str | None
