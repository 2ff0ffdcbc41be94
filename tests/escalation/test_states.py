"""Ticket state machine, decision rules and levels."""

from itertools import product

import pytest

from escalation.states import (
    EVENT_KIND_BY_ACTION,
    LEVEL_NAMES,
    RESOLUTIONS_BY_TYPE,
    TRANSITIONS,
    Action,
    InvalidDecision,
    InvalidTransition,
    Resolution,
    TicketStatus,
    TicketType,
    allowed_actions,
    next_level,
    registration_status_after,
    resolutions_for,
    transition,
    validate_decision,
)

# The workflow as specified, written out independently of the module's table so that any change
# to the table (an added or a removed transition) fails a test here.
EXPECTED: dict[tuple[str, str], str] = {
    ("open", "claim"): "in_review",
    ("open", "assign"): "open",
    ("in_review", "assign"): "open",
    ("in_review", "unclaim"): "open",
    ("open", "comment"): "open",
    ("in_review", "comment"): "in_review",
    ("decided", "comment"): "decided",
    ("open", "escalate"): "open",
    ("in_review", "escalate"): "open",
    ("open", "decide"): "decided",
    ("in_review", "decide"): "decided",
    ("decided", "reopen"): "open",
}
REFUSED = sorted(
    (s.value, a.value) for s, a in product(TicketStatus, Action) if (s, a) not in EXPECTED
)


def test_enum_values_match_the_stored_strings() -> None:
    assert [s.value for s in TicketStatus] == ["open", "in_review", "decided"]
    assert [t.value for t in TicketType] == ["conflict", "exception"]
    assert {r.value for r in Resolution} == {
        "partner_leads",
        "mcs_leads",
        "joint_engagement",
        "rejected",
        "exception_granted",
        "exception_denied",
        "no_conflict",
    }


def test_creation_is_not_an_action() -> None:
    assert "open" not in {a.value for a in Action}


@pytest.mark.parametrize(("status", "action"), sorted(EXPECTED))
def test_allowed_transition(status: str, action: str) -> None:
    assert transition(status, action) is TicketStatus(EXPECTED[(status, action)])
    assert transition(TicketStatus(status), Action(action)) == EXPECTED[(status, action)]


@pytest.mark.parametrize(("status", "action"), REFUSED)
def test_refused_transition(status: str, action: str) -> None:
    with pytest.raises(InvalidTransition) as info:
        transition(status, action)
    assert isinstance(info.value, ValueError)
    assert f"cannot {action} a ticket that is {status}" in str(info.value)


def test_refused_pairs_are_the_rest_of_the_product() -> None:
    assert len(EXPECTED) + len(REFUSED) == len(TicketStatus) * len(Action)
    assert REFUSED, "a workflow that allows everything is not a workflow"


def test_table_is_exactly_the_expected_workflow() -> None:
    assert {(str(s), str(a)): str(t) for (s, a), t in TRANSITIONS.items()} == EXPECTED


def test_table_is_read_only() -> None:
    with pytest.raises(TypeError):
        TRANSITIONS[(TicketStatus.DECIDED, Action.DECIDE)] = TicketStatus.DECIDED  # type: ignore[index]


@pytest.mark.parametrize(
    ("status", "action"),
    [("closed", "claim"), ("open", "close"), ("", ""), ("OPEN", "claim")],
)
def test_unknown_status_or_action_is_refused(status: str, action: str) -> None:
    with pytest.raises(InvalidTransition):
        transition(status, action)


def test_refusal_message_lists_what_is_allowed() -> None:
    with pytest.raises(InvalidTransition, match=r"allowed here: comment, reopen$"):
        transition(TicketStatus.DECIDED, Action.CLAIM)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("open", {"claim", "assign", "comment", "escalate", "decide"}),
        ("in_review", {"assign", "unclaim", "comment", "escalate", "decide"}),
        ("decided", {"comment", "reopen"}),
    ],
)
def test_allowed_actions(status: str, expected: set[str]) -> None:
    assert allowed_actions(status) == {Action(a) for a in expected}


def test_every_action_records_a_known_timeline_event() -> None:
    assert dict(EVENT_KIND_BY_ACTION) == {
        Action.CLAIM: "claimed",
        Action.ASSIGN: "assigned",
        Action.UNCLAIM: "released",
        Action.COMMENT: "commented",
        Action.ESCALATE: "escalated",
        Action.DECIDE: "decided",
        Action.REOPEN: "reopened",
    }


# --- decisions -----------------------------------------------------------------------------

GOOD = "The partner registered first and holds the relationship."

VALID_DECISIONS = [
    ("conflict", 1, "partner_leads", GOOD, None),
    ("conflict", 1, "mcs_leads", GOOD, "NAMED_ACCOUNT"),
    ("conflict", 2, "joint_engagement", GOOD, "MCS_OVERLAP"),
    ("conflict", 3, "rejected", GOOD, "PARTNER_OVERLAP"),
    ("exception", 1, "exception_granted", GOOD, "DOTNET_EXCEPTION"),
    ("exception", 1, "exception_denied", GOOD, "DOTNET_EXCEPTION"),
    ("exception", 2, "rejected", GOOD, None),
    # The no-bid block: only a level-3 grant overrides it; refusing it is fine at any level.
    ("exception", 3, "exception_granted", GOOD, "NO_BID_DOTNET"),
    ("exception", 1, "exception_denied", GOOD, "NO_BID_DOTNET"),
    ("exception", 2, "rejected", GOOD, "NO_BID_DOTNET"),
    # Exactly ten visible characters is enough, however they are spaced.
    ("conflict", 1, "rejected", "abcdefghij", None),
    ("conflict", 1, "rejected", "  a b c d e f g h i j  ", None),
]


@pytest.mark.parametrize(
    ("ticket_type", "level", "resolution", "rationale", "rule"), VALID_DECISIONS
)
def test_valid_decision(
    ticket_type: str, level: int, resolution: str, rationale: str, rule: str | None
) -> None:
    result = validate_decision(ticket_type, level, resolution, rationale, rule=rule)
    assert result is Resolution(resolution)


INVALID_DECISIONS = [
    ("conflict", 1, "exception_granted", GOOD, None, "cannot be decided exception_granted"),
    ("conflict", 1, "exception_denied", GOOD, None, "cannot be decided exception_denied"),
    ("exception", 1, "partner_leads", GOOD, None, "cannot be decided partner_leads"),
    ("exception", 3, "mcs_leads", GOOD, None, "cannot be decided mcs_leads"),
    ("exception", 3, "joint_engagement", GOOD, None, "cannot be decided joint_engagement"),
    ("conflict", 1, "partner_leads", "", None, "needs a written rationale"),
    ("conflict", 1, "partner_leads", "   \n\t ", None, "needs a written rationale"),
    ("conflict", 1, "partner_leads", None, None, "needs a written rationale"),
    ("conflict", 1, "partner_leads", "too short", None, "too short"),
    ("conflict", 1, "partner_leads", "a b c d e f g h i", None, "too short"),
    ("exception", 1, "exception_granted", GOOD, "NO_BID_DOTNET", "only by an exception granted"),
    ("exception", 2, "exception_granted", GOOD, "NO_BID_DOTNET", "at level 2 \\(region\\)"),
    ("merger", 1, "rejected", GOOD, None, "unknown ticket type"),
    ("conflict", 1, "approved", GOOD, None, "unknown resolution"),
    ("conflict", 0, "rejected", GOOD, None, "unknown escalation level"),
    ("conflict", 4, "rejected", GOOD, None, "unknown escalation level"),
]


@pytest.mark.parametrize(
    ("ticket_type", "level", "resolution", "rationale", "rule", "message"), INVALID_DECISIONS
)
def test_invalid_decision(
    ticket_type: str,
    level: int,
    resolution: str,
    rationale: str | None,
    rule: str | None,
    message: str,
) -> None:
    with pytest.raises(InvalidDecision, match=message) as info:
        validate_decision(ticket_type, level, resolution, rationale, rule=rule)
    assert isinstance(info.value, ValueError)


def test_resolutions_by_type() -> None:
    assert RESOLUTIONS_BY_TYPE[TicketType.CONFLICT] == {
        Resolution.PARTNER_LEADS,
        Resolution.MCS_LEADS,
        Resolution.JOINT_ENGAGEMENT,
        Resolution.REJECTED,
    }
    assert RESOLUTIONS_BY_TYPE[TicketType.EXCEPTION] == {
        Resolution.EXCEPTION_GRANTED,
        Resolution.EXCEPTION_DENIED,
        Resolution.REJECTED,
    }
    every = set().union(*RESOLUTIONS_BY_TYPE.values())
    # "No longer in conflict" is the system's closing, never a reviewer's choice.
    assert every == set(Resolution) - {Resolution.NO_CONFLICT}


def test_partner_pair_tickets_offer_no_mcs_decision() -> None:
    assert resolutions_for(TicketType.CONFLICT, "PARTNER_OVERLAP") == {
        Resolution.PARTNER_LEADS,
        Resolution.JOINT_ENGAGEMENT,
        Resolution.REJECTED,
    }
    assert (
        resolutions_for(TicketType.CONFLICT, "MCS_OVERLAP")
        == (RESOLUTIONS_BY_TYPE[TicketType.CONFLICT])
    )
    with pytest.raises(InvalidDecision, match="partner-vs-partner"):
        validate_decision("conflict", 1, "mcs_leads", "a sound reason", rule="PARTNER_OVERLAP")
    with pytest.raises(InvalidDecision):
        validate_decision("conflict", 1, "no_conflict", "a sound reason")


# --- what a decision does to the registration ----------------------------------------------

REGISTRATION_OUTCOMES = [
    ("partner_leads", "partner", "approved"),
    ("joint_engagement", "partner", "approved"),
    ("mcs_leads", "partner", "rejected"),
    ("rejected", "partner", "rejected"),
    ("exception_granted", "partner", "approved"),
    ("exception_denied", "partner", "rejected"),
    ("mcs_leads", "mcs", "approved"),
    ("joint_engagement", "mcs", "approved"),
    ("partner_leads", "mcs", "rejected"),
    ("rejected", "mcs", "rejected"),
    ("exception_granted", "mcs", "approved"),
    ("exception_denied", "mcs", "rejected"),
]


@pytest.mark.parametrize(("resolution", "party", "expected"), REGISTRATION_OUTCOMES)
def test_registration_status_after(resolution: str, party: str, expected: str) -> None:
    assert registration_status_after(resolution, party) == expected
    assert registration_status_after(Resolution(resolution), party) == expected


def test_registration_outcomes_cover_every_resolution_and_party() -> None:
    assert {(r, p) for r, p, _ in REGISTRATION_OUTCOMES} == {
        (r.value, p)
        for r in Resolution
        if r is not Resolution.NO_CONFLICT
        for p in ("partner", "mcs")
    }


@pytest.mark.parametrize(("resolution", "party"), [("partner_leads", "vendor"), ("won", "mcs")])
def test_registration_status_after_rejects_unknown_input(resolution: str, party: str) -> None:
    with pytest.raises(ValueError, match="unknown"):
        registration_status_after(resolution, party)


# --- levels --------------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "expected"), [(1, 2), (2, 3), (3, None)])
def test_next_level(level: int, expected: int | None) -> None:
    assert next_level(level) == expected


@pytest.mark.parametrize("level", [0, 4, -1, True])
def test_next_level_rejects_unknown_levels(level: int) -> None:
    with pytest.raises(ValueError, match="unknown escalation level"):
        next_level(level)


def test_level_names() -> None:
    assert dict(LEVEL_NAMES) == {1: "district", 2: "region", 3: "national"}
