"""The escalation ticket state machine, decision rules and levels (pure)."""

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class TicketStatus(StrEnum):
    """Where a ticket is in its life."""

    OPEN = "open"  # waiting for a reviewer; may already have an assigned owner
    IN_REVIEW = "in_review"  # claimed by its owner, who is working it
    DECIDED = "decided"


class TicketType(StrEnum):
    """What a ticket asks reviewers to settle."""

    CONFLICT = "conflict"
    EXCEPTION = "exception"


class Action(StrEnum):
    """Something a person or a job does to an existing ticket."""

    # Opening a ticket is creation, not a transition, so it has no action here.
    CLAIM = "claim"
    ASSIGN = "assign"
    UNCLAIM = "unclaim"
    COMMENT = "comment"
    ESCALATE = "escalate"
    DECIDE = "decide"
    REOPEN = "reopen"


class Resolution(StrEnum):
    """How a ticket was decided."""

    PARTNER_LEADS = "partner_leads"
    MCS_LEADS = "mcs_leads"
    JOINT_ENGAGEMENT = "joint_engagement"
    REJECTED = "rejected"
    EXCEPTION_GRANTED = "exception_granted"
    EXCEPTION_DENIED = "exception_denied"
    # Set by the system, never chosen: the registration was withdrawn or its findings released.
    NO_CONFLICT = "no_conflict"


# How each resolution reads on pages, in e-mails and on the dashboard.
RESOLUTION_LABELS: Final[Mapping[str, str]] = MappingProxyType(
    {
        Resolution.PARTNER_LEADS: "Partner leads",
        Resolution.MCS_LEADS: "MCS leads",
        Resolution.JOINT_ENGAGEMENT: "Joint engagement",
        Resolution.REJECTED: "Rejected",
        Resolution.EXCEPTION_GRANTED: "Exception granted",
        Resolution.EXCEPTION_DENIED: "Exception denied",
        Resolution.NO_CONFLICT: "No longer in conflict",
    }
)


class InvalidTransition(ValueError):
    """Refuse an action the ticket's status does not allow."""

    def __init__(self, status: TicketStatus | str, action: Action | str) -> None:
        self.status = status
        self.action = action
        allowed = ", ".join(sorted(_allowed_names(status))) or "nothing"
        super().__init__(f"cannot {action} a ticket that is {status}; allowed here: {allowed}")


class InvalidDecision(ValueError):
    """Refuse a decision that does not fit the ticket."""


_S = TicketStatus
_A = Action

# Assigning a ticket that is in review sends it back to open: the claim records that a named
# person has picked the ticket up, and a new owner has not done that yet. The database also
# relies on this (an in_review ticket always has the owner who claimed it).
# Escalating returns the ticket to open, unclaimed, because the next level's owner must claim it.
# Commenting never changes the status, so it is allowed everywhere, including after a decision.
TRANSITIONS: Final[Mapping[tuple[TicketStatus, Action], TicketStatus]] = MappingProxyType(
    {
        (_S.OPEN, _A.CLAIM): _S.IN_REVIEW,
        (_S.OPEN, _A.ASSIGN): _S.OPEN,
        (_S.IN_REVIEW, _A.ASSIGN): _S.OPEN,
        (_S.IN_REVIEW, _A.UNCLAIM): _S.OPEN,
        (_S.OPEN, _A.COMMENT): _S.OPEN,
        (_S.IN_REVIEW, _A.COMMENT): _S.IN_REVIEW,
        (_S.DECIDED, _A.COMMENT): _S.DECIDED,
        (_S.OPEN, _A.ESCALATE): _S.OPEN,
        (_S.IN_REVIEW, _A.ESCALATE): _S.OPEN,
        (_S.OPEN, _A.DECIDE): _S.DECIDED,
        (_S.IN_REVIEW, _A.DECIDE): _S.DECIDED,
        (_S.DECIDED, _A.REOPEN): _S.OPEN,
    }
)

# The timeline event kind each action records (models.ticket_event.EVENT_KINDS).
EVENT_KIND_BY_ACTION: Final[Mapping[Action, str]] = MappingProxyType(
    {
        _A.CLAIM: "claimed",
        _A.ASSIGN: "assigned",
        _A.UNCLAIM: "released",
        _A.COMMENT: "commented",
        _A.ESCALATE: "escalated",
        _A.DECIDE: "decided",
        _A.REOPEN: "reopened",
    }
)


def _allowed_names(status: TicketStatus | str) -> set[str]:
    return {str(a) for (s, a) in TRANSITIONS if s == status}


def allowed_actions(status: TicketStatus | str) -> frozenset[Action]:
    """Return the actions a ticket in this status accepts."""
    return frozenset(a for (s, a) in TRANSITIONS if s == status)


def transition(status: TicketStatus | str, action: Action | str) -> TicketStatus:
    """Return the status after applying the action, or raise InvalidTransition."""
    try:
        key = (TicketStatus(status), Action(action))
    except ValueError:
        raise InvalidTransition(status, action) from None
    try:
        return TRANSITIONS[key]
    except KeyError:
        raise InvalidTransition(status, action) from None


# Levels: 1 district, 2 region, 3 national.
LEVELS: Final[tuple[int, ...]] = (1, 2, 3)
TOP_LEVEL: Final[int] = 3
LEVEL_NAMES: Final[Mapping[int, str]] = MappingProxyType(
    {1: "district", 2: "region", 3: "national"}
)


def check_level(level: int) -> int:
    """Return the level unchanged, or raise ValueError when it is not 1, 2 or 3."""
    # bool is an int subclass; True would otherwise pass as level 1.
    if isinstance(level, bool) or level not in LEVELS:
        raise ValueError(f"unknown escalation level {level!r}; expected 1, 2 or 3")
    return level


# A no-bid block can be overridden only by a level-3 grant, so its exception ticket opens there:
# opening it lower would only make it wait out two SLAs before anyone who may grant it sees it.
OPENING_LEVEL_BY_RULE: Final[Mapping[str, int]] = MappingProxyType({"NO_BID_DOTNET": TOP_LEVEL})


def opening_level(rule: str) -> int:
    """Return the level a new ticket for a finding of this rule opens at."""
    return OPENING_LEVEL_BY_RULE.get(rule, LEVELS[0])


def next_level(level: int) -> int | None:
    """Return the level a ticket escalates to, or None when it is already national."""
    check_level(level)
    return None if level == TOP_LEVEL else level + 1


RESOLUTIONS_BY_TYPE: Final[Mapping[TicketType, frozenset[Resolution]]] = MappingProxyType(
    {
        TicketType.CONFLICT: frozenset(
            {
                Resolution.PARTNER_LEADS,
                Resolution.MCS_LEADS,
                Resolution.JOINT_ENGAGEMENT,
                Resolution.REJECTED,
            }
        ),
        TicketType.EXCEPTION: frozenset(
            {
                Resolution.EXCEPTION_GRANTED,
                Resolution.EXCEPTION_DENIED,
                Resolution.REJECTED,
            }
        ),
    }
)

MIN_RATIONALE_CHARS: Final[int] = 10
NO_BID_RULE: Final[str] = "NO_BID_DOTNET"
PARTNER_OVERLAP_RULE: Final[str] = "PARTNER_OVERLAP"

# Between two partners MCS is no party, so "MCS leads" decides nothing. "Partner leads" gives the
# customer to the registration that raised the ticket (the other stands down), "rejected" leaves
# it with the other partner, "joint" lets both go ahead.
_PARTNER_PAIR_RESOLUTIONS: Final[frozenset[Resolution]] = frozenset(
    {Resolution.PARTNER_LEADS, Resolution.JOINT_ENGAGEMENT, Resolution.REJECTED}
)

# How the resolutions of a partner-vs-partner ticket read where a reviewer chooses one.
PARTNER_PAIR_CHOICES: Final[Mapping[str, str]] = MappingProxyType(
    {
        Resolution.PARTNER_LEADS: "This registration leads; the other partner's stands down",
        Resolution.JOINT_ENGAGEMENT: "Joint engagement: both registrations go ahead",
        Resolution.REJECTED: "Rejected: the other partner's registration keeps the lead",
    }
)


def resolutions_for(ticket_type: TicketType | str, rule: str | None) -> frozenset[Resolution]:
    """Return the resolutions a reviewer may choose for a ticket of this type and rule."""
    allowed = RESOLUTIONS_BY_TYPE[TicketType(ticket_type)]
    if rule == PARTNER_OVERLAP_RULE:
        return allowed & _PARTNER_PAIR_RESOLUTIONS
    return allowed


def validate_decision(
    ticket_type: TicketType | str,
    level: int,
    resolution: Resolution | str,
    rationale: str | None,
    *,
    rule: str | None = None,
) -> Resolution:
    """Return the resolution if it may close this ticket, or raise InvalidDecision."""
    try:
        kind = TicketType(ticket_type)
    except ValueError:
        raise InvalidDecision(f"unknown ticket type {ticket_type!r}") from None
    try:
        check_level(level)
    except ValueError as exc:
        raise InvalidDecision(str(exc)) from None
    try:
        chosen = Resolution(resolution)
    except ValueError:
        raise InvalidDecision(f"unknown resolution {resolution!r}") from None
    allowed = resolutions_for(kind, rule)
    if chosen not in allowed:
        accepted = ", ".join(sorted(allowed))
        what = "partner-vs-partner" if rule == PARTNER_OVERLAP_RULE else f"{kind}"
        raise InvalidDecision(
            f"a {what} ticket cannot be decided {chosen}; choose one of: {accepted}"
        )
    # Whitespace is not an explanation: count only the characters a reader sees.
    visible = sum(1 for ch in rationale or "" if not ch.isspace())
    if visible == 0:
        raise InvalidDecision("a decision needs a written rationale")
    if visible < MIN_RATIONALE_CHARS:
        raise InvalidDecision(
            f"the rationale is too short: write at least {MIN_RATIONALE_CHARS} characters"
        )
    # The vendor committed not to bid against partners selling .NET servers and middleware;
    # only national (level 3) review may grant an exception to that commitment.
    if rule == NO_BID_RULE and chosen is Resolution.EXCEPTION_GRANTED and level < TOP_LEVEL:
        raise InvalidDecision(
            "a no-bid block can be overridden only by an exception granted at level 3 "
            f"({LEVEL_NAMES[TOP_LEVEL]}); this ticket is at level {level} ({LEVEL_NAMES[level]})"
        )
    return chosen


PARTIES: Final[tuple[str, ...]] = ("partner", "mcs")

# What a decision does to the registration that raised the ticket, by the party that registered
# it. Conflict resolutions depend on who registered; exception resolutions do not.
REGISTRATION_STATUS_AFTER: Final[Mapping[tuple[Resolution, str], str]] = MappingProxyType(
    {
        (Resolution.PARTNER_LEADS, "partner"): "approved",
        (Resolution.JOINT_ENGAGEMENT, "partner"): "approved",
        (Resolution.MCS_LEADS, "partner"): "rejected",
        (Resolution.REJECTED, "partner"): "rejected",
        (Resolution.EXCEPTION_GRANTED, "partner"): "approved",
        (Resolution.EXCEPTION_DENIED, "partner"): "rejected",
        (Resolution.MCS_LEADS, "mcs"): "approved",
        (Resolution.JOINT_ENGAGEMENT, "mcs"): "approved",
        (Resolution.PARTNER_LEADS, "mcs"): "rejected",
        (Resolution.REJECTED, "mcs"): "rejected",
        (Resolution.EXCEPTION_GRANTED, "mcs"): "approved",
        (Resolution.EXCEPTION_DENIED, "mcs"): "rejected",
    }
)


def registration_status_after(resolution: Resolution | str, party: str) -> str:
    """Return the status a decision gives the registration that raised the ticket."""
    try:
        chosen = Resolution(resolution)
    except ValueError:
        raise ValueError(f"unknown resolution {resolution!r}") from None
    if party not in PARTIES:
        raise ValueError(f"unknown party {party!r}; expected 'partner' or 'mcs'")
    return REGISTRATION_STATUS_AFTER[(chosen, party)]
