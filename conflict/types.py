"""Frozen value types shared by the pure conflict core (normalize, matching, rules)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

WORKLOADS: tuple[str, ...] = (
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
)
# Readable names for the workload vocabulary (forms, pages and rule messages share them).
WORKLOAD_LABELS: dict[str, str] = {
    "dotnet_server": ".NET servers",
    "middleware": "Middleware",
    "windows_server": "Windows Server",
    "sql_server": "SQL Server",
    "exchange": "Exchange",
    "sharepoint": "SharePoint",
    "yammer": "Yammer",
    "skype": "Skype",
    "office365": "Office 365",
    "azure": "Azure",
    "dynamics": "Dynamics",
}


def score_text(score: float) -> str:
    """Write a match score as people read it: "94.3", and "100" rather than "100.0"."""
    return f"{score:.1f}".removesuffix(".0")


# One short title per rule code, for headings, ticket titles and e-mails alike.
RULE_TITLES: dict[str, str] = {
    "NAMED_ACCOUNT": "Named account",
    "NEEDS_REVIEW": "Possible named account",
    "MCS_SIZE_THRESHOLD": "Outside the MCS space",
    "DOTNET_EXCEPTION": "Early .NET exception",
    "MCS_OVERLAP": "MCS and partner overlap",
    "NO_BID_DOTNET": "No-bid commitment on .NET",
    "PARTNER_OVERLAP": "Partner overlap",
}
# Rules whose every finding names another registration that gets a ticket of its own: a ticket
# has one registration on each side, and its decision settles exactly those two.
PAIRWISE_RULES: frozenset[str] = frozenset({"MCS_OVERLAP"})
# The workloads the no-bid commitment protects: ".NET servers and middleware".
DOTNET_WORKLOADS: frozenset[str] = frozenset({"dotnet_server", "middleware"})
SOLUTION_STACKS: tuple[str, ...] = ("all_microsoft", "competitive_middleware")
MATURITY_LEVELS: tuple[str, ...] = ("basic", "standardized", "rationalized", "dynamic")
SEGMENTS: tuple[str, ...] = ("global", "strategic", "major", "corporate")
PARTIES: tuple[str, ...] = ("partner", "mcs")


class Severity(StrEnum):
    """How much a finding matters to the outcome."""

    INFO = "info"
    WARNING = "warning"
    CONFLICT = "conflict"
    BLOCK = "block"


class Outcome(StrEnum):
    """What a decision does to a registration (maps onto the registration status)."""

    APPROVED = "approved"
    IN_CONFLICT = "in_conflict"
    IN_EXCEPTION_REVIEW = "in_exception_review"
    REJECTED = "rejected"


class MatchMethod(StrEnum):
    """How a customer was matched to a named account."""

    DOMAIN = "domain"
    EXACT = "exact_name"
    ALIAS = "alias"
    FUZZY = "fuzzy"


# How a match reads in a sentence: "matched by web domain".
METHOD_WORDS: dict[str, str] = {
    MatchMethod.DOMAIN: "by web domain",
    MatchMethod.EXACT: "by exact name",
    MatchMethod.ALIAS: "by a name listed as an alias",
    MatchMethod.FUZZY: "by name similarity",
}


class MatchDoubt(StrEnum):
    """Why the matcher is not sure a candidate is the customer (a match may have several)."""

    SHARED_NAME = "shared_name"  # several accounts carry the name (or alias) given
    CLOSE_RUNNER_UP = "close_runner_up"  # another account scores about as high
    DOMAIN_DIFFERS = "domain_differs"  # the customer's web domain is not the account's
    BELOW_THRESHOLD = "below_threshold"  # the name score is under the match threshold


@dataclass(frozen=True, slots=True)
class Account:
    """One named account of a list version, as the matcher sees it."""

    id: int  # database row id of the named account
    account_id: str  # the list's own identifier (CSV column account_id)
    name: str
    domain: str | None = None
    aliases: tuple[str, ...] = ()
    segment: str | None = None
    district: str | None = None
    pc_count: int | None = None
    mcs_owner_email: str | None = None


@dataclass(frozen=True, slots=True)
class AccountMatch:
    """A candidate account for a customer, with how it matched and how sure we are."""

    account: Account
    method: MatchMethod
    score: float  # 0..100; 100 for domain/exact/alias
    confident: bool  # False: similar name but not sure -> "needs review" finding
    matched_on: str  # the normalised text or domain that matched
    reasons: tuple[str, ...] = ()  # evidence used (domain agrees, district differs, ...)
    # Why an uncertain match is uncertain, for the rules' wording; empty when confident.
    doubts: tuple[MatchDoubt, ...] = ()


class AccountMatcher(Protocol):
    """The account index as the rules use it."""

    list_version_id: int | None

    def match(
        self,
        name: str,
        domain: str | None = None,
        *,
        district: str | None = None,
        pc_count: int | None = None,
        match_score: float = 92.0,
        review_score: float = 85.0,
    ) -> Sequence[AccountMatch]:
        """Return candidate matches, best first; empty when nothing is close."""
        ...


@dataclass(frozen=True, slots=True)
class Policy:
    """The policy values the rules read (a versioned row in the database)."""

    version_id: int | None = None
    pc_threshold: int = 4000  # MCS engages only with accounts of MORE than this many PCs
    fuzzy_match_score: float = 92.0  # at or above (with no contrary evidence): confident match
    fuzzy_review_score: float = 85.0  # at or above, below match score: "needs review"
    high_impact_value: int = 250_000  # estimated value for a .NET exception to be considered


@dataclass(frozen=True, slots=True)
class Facts:
    """A registration being judged (new, or an open one re-checked)."""

    party: str  # "partner" | "mcs"
    customer_name: str
    customer_domain: str | None = None
    district: str | None = None
    country: str | None = None
    pc_count: int | None = None
    workloads: frozenset[str] = frozenset()
    solution_stack: str | None = None  # "all_microsoft" | "competitive_middleware"
    dotnet_early_adoption: bool = False
    estimated_value: int | None = None
    partner_id: int | None = None
    registration_id: int | None = None  # set when re-checking an existing registration
    submitted_at: datetime | None = None
    expected_close_date: date | None = None


@dataclass(frozen=True, slots=True)
class Engagement:
    """An active registration on the same customer (the other side of overlap rules)."""

    registration_id: int
    party: str
    partner_id: int | None
    partner_name: str | None
    workloads: frozenset[str]
    solution_stack: str | None
    submitted_at: datetime
    pc_count: int | None = None
    status: str = "approved"


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict with the evidence a person needs to trust it."""

    rule: str
    severity: Severity
    message: str
    account_id: int | None = None  # named account row id
    account_ref: str | None = None  # the list's account_id
    account_name: str | None = None
    method: str | None = None
    score: float | None = None
    other_registration_id: int | None = None
    mcs_owner_email: str | None = None
    district: str | None = None
    evidence: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """The result of evaluate(): an outcome with every finding behind it."""

    outcome: Outcome
    findings: tuple[Finding, ...]
    list_version_id: int | None
    policy_version_id: int | None

    @property
    def rules(self) -> tuple[str, ...]:
        """Return the rule codes that fired, in order."""
        return tuple(f.rule for f in self.findings)
