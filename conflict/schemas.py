"""Validated input for a registration, shared by the form, the API and the command line."""

from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from conflict.normalize import normalize_domain
from conflict.types import MATURITY_LEVELS, SOLUTION_STACKS, WORKLOADS


def refuse_nul(value: str) -> str:
    """Refuse text holding a NUL character, which PostgreSQL text cannot store."""
    # Refused here, at the edge, rather than failing in the database as a bare 400.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


# Any text taken from a request body or query string.
NulFreeStr = Annotated[str, AfterValidator(refuse_nul)]

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

    customer_name: str = Field(min_length=2, max_length=300)
    customer_domain: str | None = Field(default=None, max_length=253)
    district: str | None = Field(default=None, max_length=40)
    country: str | None = Field(default="US", min_length=2, max_length=2)
    pc_count: int | None = Field(default=None, ge=0, le=10_000_000)
    workloads: list[Workload] = Field(min_length=1, max_length=len(WORKLOADS))
    solution_stack: Stack | None = None
    dotnet_early_adoption: bool = False
    # The column is a 32-bit integer of whole dollars.
    estimated_value: int | None = Field(default=None, ge=0, le=2_147_483_647)
    expected_close_date: date | None = None
    infrastructure_maturity: Maturity | None = None
    notes: str = Field(default="", max_length=4000)
    party: Literal["partner", "mcs"] | None = None

    @field_validator("customer_name", "customer_domain", "district", "country", "notes")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        return None if value is None else refuse_nul(value)

    @field_validator("customer_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        normalized = normalize_domain(value)
        if normalized is None:
            raise ValueError(
                "enter the customer's own web domain, such as contoso.com "
                "(free-mail domains such as gmail.com do not identify a company)"
            )
        return normalized

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.isalpha():
            raise ValueError("use a two-letter country code such as US")
        return value.upper()

    @field_validator("workloads")
    @classmethod
    def _unique_workloads(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _exception_needs_value(self) -> "RegistrationCreate":
        if self.dotnet_early_adoption and self.estimated_value is None:
            raise ValueError("an early .NET adoption flag needs an estimated value")
        return self


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
    notes: str
    findings: list[dict[str, object]]
    ticket_id: int | None
    ticket_ids: list[int]
    list_version_id: int | None
    policy_version_id: int | None
    submitted_at: str
    expires_at: str | None
