"""Rules of engagement: one table per rule, boundaries included, against a fake matcher."""

import ast
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conflict import rules
from conflict.rules import (
    DOTNET_EXCEPTION,
    MCS_OVERLAP,
    MCS_SIZE_THRESHOLD,
    NAMED_ACCOUNT,
    NEEDS_REVIEW,
    NO_BID_DOTNET,
    PARTNER_OVERLAP,
    RULES,
    derive_outcome,
    describe,
    evaluate,
    findings_to_json,
)
from conflict.types import (
    Account,
    AccountMatch,
    Decision,
    Engagement,
    Facts,
    Finding,
    MatchMethod,
    Outcome,
    Policy,
    Severity,
)

T0 = datetime(2024, 1, 18, 9, 0, tzinfo=UTC)
POLICY = Policy(version_id=3)

CONTOSO = Account(
    id=11,
    account_id="ACC-0011",
    name="Contoso Ltd",
    domain="contoso.com",
    segment="corporate",
    district="Pacific Northwest",
    pc_count=4200,
    mcs_owner_email="owner@vendor.example",
)


@dataclass
class FakeMatcher:
    """An AccountMatcher that answers with fixed matches and records how it was asked."""

    answer: Sequence[AccountMatch] = ()
    list_version_id: int | None = 5
    calls: list[tuple[tuple[object, ...], dict[str, object]]] = field(default_factory=list)

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
        self.calls.append(
            (
                (name, domain),
                {
                    "district": district,
                    "pc_count": pc_count,
                    "match_score": match_score,
                    "review_score": review_score,
                },
            )
        )
        return self.answer


def confident(
    account: Account = CONTOSO, method: MatchMethod = MatchMethod.DOMAIN, score: float = 100.0
) -> AccountMatch:
    return AccountMatch(account, method, score, confident=True, matched_on="contoso.com")


def uncertain(account: Account = CONTOSO, score: float = 88.04) -> AccountMatch:
    return AccountMatch(account, MatchMethod.FUZZY, score, confident=False, matched_on="contoso")


def partner(**kw: object) -> Facts:
    base = Facts(
        party="partner",
        customer_name="Contoso",
        customer_domain="contoso.com",
        district="Pacific Northwest",
        pc_count=3000,
        workloads=frozenset({"exchange"}),
        solution_stack="all_microsoft",
        partner_id=1,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def mcs(**kw: object) -> Facts:
    base = Facts(
        party="mcs",
        customer_name="Contoso",
        customer_domain="contoso.com",
        district="Pacific Northwest",
        pc_count=4500,
        workloads=frozenset({"azure"}),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def eng(registration_id: int = 90, **kw: object) -> Engagement:
    base = Engagement(
        registration_id=registration_id,
        party="partner",
        partner_id=2,
        partner_name="Fabrikam Solutions",
        workloads=frozenset({"exchange"}),
        solution_stack="all_microsoft",
        submitted_at=T0,
        pc_count=None,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def mcs_eng(registration_id: int = 80, **kw: object) -> Engagement:
    return eng(registration_id, party="mcs", partner_id=None, partner_name=None, **kw)


def run(
    facts: Facts,
    matches: Sequence[AccountMatch] = (),
    engagements: Sequence[Engagement] = (),
    policy: Policy = POLICY,
) -> Decision:
    return evaluate(facts, FakeMatcher(matches), engagements, policy)


def only(decision: Decision, rule: str) -> Finding:
    found = [f for f in decision.findings if f.rule == rule]
    assert len(found) == 1, decision.rules
    return found[0]


# --- the registry and the loop --------------------------------------------------------------


def test_registry_lists_every_rule_in_evaluation_order() -> None:
    assert list(RULES) == [
        NAMED_ACCOUNT,
        NEEDS_REVIEW,
        MCS_SIZE_THRESHOLD,
        DOTNET_EXCEPTION,
        MCS_OVERLAP,
        NO_BID_DOTNET,
        PARTNER_OVERLAP,
    ]


def test_evaluate_asks_the_matcher_once_with_the_policy_scores() -> None:
    matcher = FakeMatcher()
    policy = Policy(version_id=9, fuzzy_match_score=95.0, fuzzy_review_score=80.0)
    evaluate(partner(pc_count=1234, district="Gulf"), matcher, [], policy)
    assert matcher.calls == [
        (
            ("Contoso", "contoso.com"),
            {"district": "Gulf", "pc_count": 1234, "match_score": 95.0, "review_score": 80.0},
        )
    ]


def test_decision_carries_list_and_policy_versions() -> None:
    decision = evaluate(partner(), FakeMatcher(list_version_id=42), [], Policy(version_id=7))
    assert (decision.list_version_id, decision.policy_version_id) == (42, 7)


def test_unknown_party_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown party"):
        run(partner(party="reseller"))


def test_clean_partner_registration_is_approved_without_findings() -> None:
    decision = run(partner(), engagements=[eng(workloads=frozenset({"azure"}))])
    assert decision.outcome is Outcome.APPROVED
    assert decision.findings == ()


@pytest.mark.parametrize("status", ["expired", "withdrawn", "rejected"])
def test_inactive_engagements_are_not_claims(status: str) -> None:
    decision = run(mcs(pc_count=5000), engagements=[eng(status=status)])
    assert decision.outcome is Outcome.APPROVED
    assert decision.findings == ()


def test_a_recheck_does_not_overlap_with_itself() -> None:
    facts = partner(registration_id=90, partner_id=None)
    assert run(facts, engagements=[eng(90)]).findings == ()
    assert run(facts, engagements=[eng(91)]).rules == (PARTNER_OVERLAP,)


# --- NAMED_ACCOUNT and NEEDS_REVIEW ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "score", "words"),
    [
        (MatchMethod.DOMAIN, 100.0, "by web domain (score 100 of 100)"),
        (MatchMethod.EXACT, 100.0, "by exact name (score 100 of 100)"),
        (MatchMethod.ALIAS, 100.0, "by a name listed as an alias (score 100 of 100)"),
        (MatchMethod.FUZZY, 94.26, "by name similarity (score 94.3 of 100)"),
    ],
)
def test_partner_on_named_account_is_a_conflict_with_match_evidence(
    method: MatchMethod, score: float, words: str
) -> None:
    decision = run(partner(), [confident(method=method, score=score)])
    assert decision.outcome is Outcome.IN_CONFLICT
    finding = only(decision, NAMED_ACCOUNT)
    assert finding.severity is Severity.CONFLICT
    assert (finding.account_id, finding.account_ref, finding.account_name) == (
        11,
        "ACC-0011",
        "Contoso Ltd",
    )
    assert (finding.method, finding.score) == (str(method), score)
    assert finding.mcs_owner_email == "owner@vendor.example"
    assert finding.district == "Pacific Northwest"
    assert finding.evidence["account_ref"] == "ACC-0011"
    assert finding.evidence["district"] == "Pacific Northwest"
    assert words in finding.message
    assert "Contoso Ltd (ACC-0011)" in finding.message
    assert "Pacific Northwest district" in finding.message
    assert "owner@vendor.example" in finding.message


def test_named_account_ticket_goes_to_the_accounts_district_not_the_registrations() -> None:
    decision = run(partner(district="Gulf"), [confident()])
    assert only(decision, NAMED_ACCOUNT).district == "Pacific Northwest"


def test_uncertain_match_asks_for_review_and_opens_a_conflict() -> None:
    decision = run(partner(), [uncertain(score=88.04)])
    assert decision.rules == (NEEDS_REVIEW,)
    assert decision.outcome is Outcome.IN_CONFLICT
    finding = decision.findings[0]
    assert finding.severity is Severity.WARNING
    assert (finding.account_name, finding.method, finding.score) == (
        "Contoso Ltd",
        "fuzzy",
        88.04,
    )
    assert finding.district == "Pacific Northwest"
    assert "score 88 of 100" in finding.message
    assert "below the 92.0 needed" in finding.message


def test_confident_match_wins_over_a_look_alike() -> None:
    other = replace(CONTOSO, id=12, account_id="ACC-0012", name="Contoso Pharma")
    decision = run(partner(), [confident(), uncertain(other)])
    assert decision.rules == (NAMED_ACCOUNT,)
    assert decision.findings[0].account_id == 11


def test_needs_review_lists_the_other_look_alikes() -> None:
    other = replace(CONTOSO, id=12, account_id="ACC-0012", name="Contoso Pharma")
    decision = run(partner(), [uncertain(score=90.0), uncertain(other, score=86.0)])
    finding = only(decision, NEEDS_REVIEW)
    assert finding.account_id == 11
    assert finding.evidence["other_candidates"] == ["Contoso Pharma"]


@pytest.mark.parametrize("pc_count", [100, 4000, 4001, None])
def test_mcs_on_named_account_is_in_its_own_space(pc_count: int | None) -> None:
    decision = run(mcs(pc_count=pc_count), [confident()])
    assert decision.outcome is Outcome.APPROVED
    assert decision.findings == ()


# --- MCS_SIZE_THRESHOLD and DOTNET_EXCEPTION ------------------------------------------------


@pytest.mark.parametrize(
    ("pc_count", "outcome", "rules_fired"),
    [
        (500, Outcome.REJECTED, (MCS_SIZE_THRESHOLD,)),
        (3999, Outcome.REJECTED, (MCS_SIZE_THRESHOLD,)),
        (4000, Outcome.REJECTED, (MCS_SIZE_THRESHOLD,)),  # 4,000 is not more than 4,000
        (4001, Outcome.APPROVED, ()),
        (None, Outcome.REJECTED, (MCS_SIZE_THRESHOLD,)),  # unknown is not shown to be above
    ],
)
def test_mcs_size_threshold_boundary(
    pc_count: int | None, outcome: Outcome, rules_fired: tuple[str, ...]
) -> None:
    decision = run(mcs(pc_count=pc_count))
    assert decision.outcome is outcome
    assert decision.rules == rules_fired


def test_size_rejection_names_the_customer_and_the_threshold() -> None:
    finding = only(run(mcs(customer_name="Contoso Ltd", pc_count=3500)), MCS_SIZE_THRESHOLD)
    assert finding.severity is Severity.BLOCK
    assert finding.message.startswith(
        "Contoso Ltd has 3,500 PCs, not more than the 4,000-PC threshold"
    )
    assert finding.evidence["pc_count"] == 3500
    assert finding.evidence["pc_threshold"] == 4000
    assert finding.evidence["overridden_by"] is None


def test_size_rejection_with_unknown_pc_count_says_so() -> None:
    finding = only(run(mcs(pc_count=None)), MCS_SIZE_THRESHOLD)
    assert "PC count is unknown" in finding.message
    assert "4,000-PC threshold" in finding.message


def test_mcs_look_alike_is_not_named_but_the_message_points_to_it() -> None:
    decision = run(mcs(pc_count=3000), [uncertain()])
    assert decision.rules == (MCS_SIZE_THRESHOLD,)
    assert decision.outcome is Outcome.REJECTED
    finding = decision.findings[0]
    assert "resembles the named account Contoso Ltd (ACC-0011)" in finding.message
    assert "web domain" in finding.message
    possible = finding.evidence["possible_account"]
    assert isinstance(possible, dict)
    assert possible["account_id"] == 11


@pytest.mark.parametrize(
    ("threshold", "pc_count", "outcome"),
    [
        (4000, 4500, Outcome.APPROVED),
        (5000, 4500, Outcome.REJECTED),
        (5000, 5000, Outcome.REJECTED),
        (5000, 5001, Outcome.APPROVED),
        (3000, 3500, Outcome.APPROVED),
    ],
)
def test_pc_threshold_is_policy(threshold: int, pc_count: int, outcome: Outcome) -> None:
    decision = run(mcs(pc_count=pc_count), policy=Policy(pc_threshold=threshold))
    assert decision.outcome is outcome
    if outcome is Outcome.REJECTED:
        assert f"{threshold:,}-PC threshold" in decision.findings[0].message


@pytest.mark.parametrize(
    ("flag", "value", "outcome", "size_severity", "exception"),
    [
        (False, 1_000_000, Outcome.REJECTED, Severity.BLOCK, False),
        (True, None, Outcome.REJECTED, Severity.BLOCK, False),
        (True, 249_999, Outcome.REJECTED, Severity.BLOCK, False),
        (True, 250_000, Outcome.IN_EXCEPTION_REVIEW, Severity.WARNING, True),
        (True, 1_000_000, Outcome.IN_EXCEPTION_REVIEW, Severity.WARNING, True),
    ],
)
def test_dotnet_exception_table(
    flag: bool, value: int | None, outcome: Outcome, size_severity: Severity, exception: bool
) -> None:
    decision = run(mcs(pc_count=3000, dotnet_early_adoption=flag, estimated_value=value))
    assert decision.outcome is outcome
    assert only(decision, MCS_SIZE_THRESHOLD).severity is size_severity
    assert (DOTNET_EXCEPTION in decision.rules) is exception


def test_exception_below_high_impact_says_why_it_was_rejected() -> None:
    finding = only(
        run(mcs(pc_count=3000, dotnet_early_adoption=True, estimated_value=100_000)),
        MCS_SIZE_THRESHOLD,
    )
    assert "estimated value of $100,000 is below the high-impact threshold of $250,000" in (
        finding.message
    )


def test_exception_without_value_says_none_was_given() -> None:
    finding = only(run(mcs(pc_count=3000, dotnet_early_adoption=True)), MCS_SIZE_THRESHOLD)
    assert "no estimated value is given" in finding.message


def test_dotnet_exception_finding_keeps_the_size_finding_as_evidence() -> None:
    decision = run(mcs(pc_count=3000, dotnet_early_adoption=True, estimated_value=300_000))
    assert decision.rules == (MCS_SIZE_THRESHOLD, DOTNET_EXCEPTION)
    size, exception = decision.findings
    assert size.evidence["overridden_by"] == DOTNET_EXCEPTION
    assert "exception review" in size.message
    assert exception.severity is Severity.WARNING
    assert "$300,000, at or above the high-impact threshold of $250,000" in exception.message
    assert exception.district == "Pacific Northwest"


def test_dotnet_exception_applies_with_unknown_pc_count() -> None:
    decision = run(mcs(pc_count=None, dotnet_early_adoption=True, estimated_value=300_000))
    assert decision.outcome is Outcome.IN_EXCEPTION_REVIEW


@pytest.mark.parametrize(
    ("pc_count", "matches"),
    [(4001, ()), (3000, (confident(),))],
)
def test_no_exception_needed_inside_mcs_space(
    pc_count: int, matches: tuple[AccountMatch, ...]
) -> None:
    decision = run(
        mcs(pc_count=pc_count, dotnet_early_adoption=True, estimated_value=1_000_000), matches
    )
    assert decision.outcome is Outcome.APPROVED
    assert decision.findings == ()


def test_high_impact_threshold_is_policy() -> None:
    facts = mcs(pc_count=3000, dotnet_early_adoption=True, estimated_value=300_000)
    assert run(facts).outcome is Outcome.IN_EXCEPTION_REVIEW
    assert run(facts, policy=Policy(high_impact_value=500_000)).outcome is Outcome.REJECTED


def test_partner_is_never_judged_by_mcs_size_rules() -> None:
    decision = run(partner(pc_count=100, dotnet_early_adoption=True, estimated_value=10**7))
    assert decision.outcome is Outcome.APPROVED
    assert decision.findings == ()


# --- NO_BID_DOTNET --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workloads", "blocked"),
    [
        ({"dotnet_server"}, True),
        ({"middleware"}, True),
        ({"dotnet_server", "sql_server"}, True),
        ({"exchange", "sharepoint"}, False),
        ({"windows_server"}, False),
    ],
)
@pytest.mark.parametrize("named", [True, False])
def test_no_bid_dotnet_table(workloads: set[str], blocked: bool, named: bool) -> None:
    matches = (confident(),) if named else ()
    decision = run(mcs(pc_count=5000), matches, [eng(workloads=frozenset(workloads))])
    assert (NO_BID_DOTNET in decision.rules) is blocked
    assert (decision.outcome is Outcome.REJECTED) is blocked


def test_no_bid_finding_names_the_workload_and_the_override_level() -> None:
    decision = run(
        mcs(pc_count=5000), [confident()], [eng(77, workloads=frozenset({"middleware"}))]
    )
    finding = only(decision, NO_BID_DOTNET)
    assert finding.severity is Severity.BLOCK
    assert finding.other_registration_id == 77
    assert "sell middleware to Contoso" in finding.message
    assert "level 3" in finding.message
    assert finding.evidence["protected_workloads"] == ["middleware"]


def test_no_bid_replaces_mcs_overlap_for_the_same_pair_only() -> None:
    decision = run(
        mcs(pc_count=5000),
        engagements=[
            eng(77, workloads=frozenset({"dotnet_server"})),
            eng(78, partner_id=3, workloads=frozenset({"exchange"})),
        ],
    )
    assert decision.rules == (MCS_OVERLAP, NO_BID_DOTNET)
    overlap, no_bid = decision.findings
    assert (overlap.other_registration_id, no_bid.other_registration_id) == (78, 77)
    assert decision.outcome is Outcome.REJECTED


def test_no_bid_only_protects_partners_not_other_mcs_engagements() -> None:
    decision = run(mcs(pc_count=5000), engagements=[mcs_eng(workloads=frozenset({"middleware"}))])
    assert decision.findings == ()


def test_partner_newcomer_selling_dotnet_is_not_a_no_bid() -> None:
    facts = partner(pc_count=5000, workloads=frozenset({"dotnet_server"}))
    decision = run(facts, engagements=[mcs_eng()])
    assert decision.rules == (MCS_OVERLAP,)


def test_no_bid_outranks_a_dotnet_exception() -> None:
    facts = mcs(pc_count=3000, dotnet_early_adoption=True, estimated_value=1_000_000)
    decision = run(facts, engagements=[eng(77, workloads=frozenset({"dotnet_server"}))])
    assert decision.rules == (MCS_SIZE_THRESHOLD, DOTNET_EXCEPTION, NO_BID_DOTNET)
    assert decision.outcome is Outcome.REJECTED
    assert only(decision, MCS_SIZE_THRESHOLD).severity is Severity.WARNING
    assert "no-bid commitment comes first" in only(decision, DOTNET_EXCEPTION).message


# --- MCS_OVERLAP ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pc_count", "overlap"),
    [(3000, False), (4000, False), (4001, True), (10_000, True)],
)
def test_mcs_overlap_partner_registers_after_mcs(pc_count: int, overlap: bool) -> None:
    decision = run(partner(pc_count=pc_count), engagements=[mcs_eng(81)])
    assert (MCS_OVERLAP in decision.rules) is overlap
    assert decision.outcome is (Outcome.IN_CONFLICT if overlap else Outcome.APPROVED)
    if overlap:
        finding = only(decision, MCS_OVERLAP)
        assert finding.other_registration_id == 81
        assert finding.severity is Severity.CONFLICT
        assert f"{pc_count:,} PCs, more than the 4,000-PC threshold" in finding.message


@pytest.mark.parametrize(
    ("pc_count", "rules_fired", "outcome"),
    [
        (4000, (MCS_SIZE_THRESHOLD,), Outcome.REJECTED),
        (4001, (MCS_OVERLAP,), Outcome.IN_CONFLICT),
    ],
)
def test_mcs_overlap_mcs_registers_after_partner(
    pc_count: int, rules_fired: tuple[str, ...], outcome: Outcome
) -> None:
    decision = run(mcs(pc_count=pc_count), engagements=[eng(91)])
    assert decision.rules == rules_fired
    assert decision.outcome is outcome
    if MCS_OVERLAP in rules_fired:
        assert decision.findings[0].other_registration_id == 91


@pytest.mark.parametrize(
    ("mine", "theirs", "overlap"),
    [
        (None, 4500, True),  # a blank count cannot hide an overlap
        (3000, 4500, True),  # either recorded count above the threshold puts it in MCS's space
        (None, None, False),
        (None, 4000, False),
    ],
)
def test_mcs_overlap_with_missing_or_disagreeing_pc_counts(
    mine: int | None, theirs: int | None, overlap: bool
) -> None:
    decision = run(partner(pc_count=mine), engagements=[mcs_eng(pc_count=theirs)])
    assert (MCS_OVERLAP in decision.rules) is overlap


def test_mcs_overlap_is_not_raised_on_a_named_account() -> None:
    decision = run(partner(pc_count=5000), [confident()], [mcs_eng()])
    assert decision.rules == (NAMED_ACCOUNT,)


def test_mcs_overlap_with_a_look_alike_raises_both_findings() -> None:
    decision = run(partner(pc_count=5000), [uncertain()], [mcs_eng()])
    assert decision.rules == (NEEDS_REVIEW, MCS_OVERLAP)
    assert decision.outcome is Outcome.IN_CONFLICT


def test_mcs_overlap_needs_mcs_on_the_other_side() -> None:
    decision = run(partner(pc_count=5000), engagements=[eng(workloads=frozenset({"azure"}))])
    assert decision.findings == ()


def test_mcs_overlap_follows_the_policy_threshold() -> None:
    facts = partner(pc_count=4500)
    assert run(facts, engagements=[mcs_eng()]).rules == (MCS_OVERLAP,)
    assert run(facts, engagements=[mcs_eng()], policy=Policy(pc_threshold=5000)).rules == ()


# --- PARTNER_OVERLAP ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mine", "theirs", "overlap"),
    [
        ({"exchange"}, {"exchange"}, {"exchange"}),
        ({"exchange", "sharepoint"}, {"sharepoint", "yammer"}, {"sharepoint"}),
        ({"exchange"}, {"sharepoint", "yammer", "skype"}, set()),
        (set(), {"exchange"}, set()),
    ],
)
def test_partner_overlap_needs_shared_workloads(
    mine: set[str], theirs: set[str], overlap: set[str]
) -> None:
    decision = run(
        partner(workloads=frozenset(mine)), engagements=[eng(93, workloads=frozenset(theirs))]
    )
    if overlap:
        finding = only(decision, PARTNER_OVERLAP)
        assert finding.severity is Severity.CONFLICT
        assert finding.other_registration_id == 93
        assert finding.evidence["overlapping_workloads"] == sorted(overlap)
        assert decision.outcome is Outcome.IN_CONFLICT
    else:
        assert decision.findings == ()
        assert decision.outcome is Outcome.APPROVED


def test_several_partners_on_different_workloads_share_a_customer_quietly() -> None:
    others = [
        eng(94, partner_id=2, workloads=frozenset({"sharepoint"})),
        eng(95, partner_id=3, workloads=frozenset({"yammer"})),
        eng(96, partner_id=4, workloads=frozenset({"skype"})),
    ]
    decision = run(partner(workloads=frozenset({"exchange"})), engagements=others)
    assert decision.findings == ()
    assert decision.outcome is Outcome.APPROVED


def test_a_partner_does_not_overlap_its_own_registrations() -> None:
    decision = run(partner(partner_id=2), engagements=[eng(partner_id=2)])
    assert decision.findings == ()


def test_one_finding_per_overlapping_partner() -> None:
    others = [eng(97, partner_id=2), eng(98, partner_id=3)]
    decision = run(partner(), engagements=others)
    assert [f.other_registration_id for f in decision.findings] == [97, 98]


@pytest.mark.parametrize(
    ("mine", "theirs", "mine_at", "leader_is_new", "reason"),
    [
        ("all_microsoft", "competitive_middleware", T0 + timedelta(days=5), True, "stack"),
        ("competitive_middleware", "all_microsoft", T0 - timedelta(days=5), False, "stack"),
        ("all_microsoft", None, T0 + timedelta(days=5), True, "stack"),
        ("all_microsoft", "all_microsoft", T0 - timedelta(hours=1), True, "earlier"),
        ("all_microsoft", "all_microsoft", T0 + timedelta(hours=1), False, "earlier"),
        ("competitive_middleware", "competitive_middleware", T0 - timedelta(1), True, "earlier"),
        ("competitive_middleware", None, T0 - timedelta(hours=1), True, "earlier"),
        ("all_microsoft", "all_microsoft", T0, False, "earlier"),  # a tie keeps the incumbent
        ("all_microsoft", "all_microsoft", None, False, "earlier"),  # not yet stamped: newest
    ],
)
def test_partner_overlap_priority(
    mine: str,
    theirs: str | None,
    mine_at: datetime | None,
    leader_is_new: bool,
    reason: str,
) -> None:
    facts = partner(solution_stack=mine, submitted_at=mine_at, registration_id=500)
    decision = run(facts, engagements=[eng(99, solution_stack=theirs)])
    evidence = only(decision, PARTNER_OVERLAP).evidence
    expected_reason = "all-Microsoft stack" if reason == "stack" else "earlier submission"
    assert evidence["reason"] == expected_reason
    assert evidence["leader_is_this_registration"] is leader_is_new
    assert evidence["leader_registration_id"] == (500 if leader_is_new else 99)
    # Even a newcomer with priority goes to a reviewer: priority is advice, not a verdict.
    assert decision.outcome is Outcome.IN_CONFLICT


def test_partner_overlap_message_explains_the_priority_without_naming_the_partner() -> None:
    facts = partner(solution_stack="all_microsoft", workloads=frozenset({"exchange", "yammer"}))
    decision = run(facts, engagements=[eng(solution_stack="competitive_middleware")])
    message = only(decision, PARTNER_OVERLAP).message
    assert "covering Exchange" in message
    assert "This registration has priority because it offers an all-Microsoft stack" in message
    assert "Fabrikam" not in message
    decision = run(partner(solution_stack="competitive_middleware"), engagements=[eng()])
    message = only(decision, PARTNER_OVERLAP).message
    assert "The other partner's registration has priority because it offers an all-Microsoft" in (
        message
    )
    assert "this one does not" in message


def test_mcs_does_not_raise_partner_overlap() -> None:
    decision = run(mcs(pc_count=5000, workloads=frozenset({"exchange"})), [confident()], [eng()])
    assert PARTNER_OVERLAP not in decision.rules


# --- outcome derivation ---------------------------------------------------------------------


def _f(rule: str, severity: Severity) -> Finding:
    return Finding(rule=rule, severity=severity, message="x")


@pytest.mark.parametrize(
    ("findings", "outcome"),
    [
        ([], Outcome.APPROVED),
        ([_f("SOMETHING", Severity.INFO)], Outcome.APPROVED),
        ([_f(NEEDS_REVIEW, Severity.WARNING)], Outcome.IN_CONFLICT),
        ([_f(NAMED_ACCOUNT, Severity.CONFLICT)], Outcome.IN_CONFLICT),
        ([_f(PARTNER_OVERLAP, Severity.CONFLICT)], Outcome.IN_CONFLICT),
        ([_f(MCS_SIZE_THRESHOLD, Severity.BLOCK)], Outcome.REJECTED),
        (
            [_f(MCS_SIZE_THRESHOLD, Severity.WARNING), _f(DOTNET_EXCEPTION, Severity.WARNING)],
            Outcome.IN_EXCEPTION_REVIEW,
        ),
        (
            [_f(DOTNET_EXCEPTION, Severity.WARNING), _f(NO_BID_DOTNET, Severity.BLOCK)],
            Outcome.REJECTED,
        ),
        (
            [_f(MCS_OVERLAP, Severity.CONFLICT), _f(NO_BID_DOTNET, Severity.BLOCK)],
            Outcome.REJECTED,
        ),
        (
            [_f(MCS_OVERLAP, Severity.CONFLICT), _f(DOTNET_EXCEPTION, Severity.WARNING)],
            Outcome.IN_EXCEPTION_REVIEW,
        ),
    ],
)
def test_derive_outcome_table(findings: list[Finding], outcome: Outcome) -> None:
    assert derive_outcome(findings) is outcome


# --- wording, describe, JSON ----------------------------------------------------------------


def _sample_decisions() -> list[Decision]:
    return [
        run(partner(), [confident()]),
        run(partner(), [uncertain()]),
        run(mcs(pc_count=3500, dotnet_early_adoption=True, estimated_value=10)),
        run(mcs(pc_count=None), [uncertain()]),
        run(mcs(pc_count=3000, dotnet_early_adoption=True, estimated_value=300_000), (), [eng()]),
        run(mcs(pc_count=5000), (), [eng(workloads=frozenset({"dotnet_server", "middleware"}))]),
        run(mcs(pc_count=5000), (), [eng()]),
        run(partner(pc_count=5000), (), [mcs_eng()]),
        run(partner(solution_stack="competitive_middleware"), (), [eng()]),
    ]


def test_messages_are_plain_english_without_internal_codes() -> None:
    jargon = ["dotnet_server", "pc_count", "all_microsoft", "competitive_middleware", "fuzzy"]
    jargon += list(RULES)
    decisions = _sample_decisions()
    assert all(d.findings for d in decisions)
    for decision in decisions:
        for finding in decision.findings:
            assert finding.message.endswith("."), finding.message
            assert "Contoso" in finding.message
            for word in jargon:
                assert word not in finding.message, (word, finding.message)


def test_describe_summarises_outcome_findings_and_versions() -> None:
    decision = run(mcs(pc_count=3500))
    text = describe(decision)
    assert text.startswith("Rejected.")
    assert decision.findings[0].message in text
    assert "named-account list version 5" in text
    assert "policy version 3" in text
    assert "\n" not in text


def test_describe_an_approval_without_versions() -> None:
    decision = evaluate(partner(), FakeMatcher(list_version_id=None), [], Policy())
    text = describe(decision)
    assert text.startswith("Approved. No rule of engagement applies.")
    assert "no published named-account list" in text
    assert "default policy" in text


def test_findings_to_json_shape() -> None:
    decision = run(partner(), [confident(method=MatchMethod.FUZZY, score=93.456)])
    (item,) = findings_to_json(decision.findings)
    assert set(item) == {
        "rule",
        "severity",
        "message",
        "account_id",
        "account_name",
        "method",
        "score",
        "other_registration_id",
        "evidence",
    }
    assert item["rule"] == NAMED_ACCOUNT
    assert item["severity"] == "conflict"
    assert item["account_id"] == 11
    assert item["account_name"] == "Contoso Ltd"
    assert item["method"] == "fuzzy"
    assert item["score"] == 93.5
    assert item["other_registration_id"] is None
    evidence = item["evidence"]
    assert isinstance(evidence, dict)
    assert evidence["account_ref"] == "ACC-0011"
    assert evidence["mcs_owner_email"] == "owner@vendor.example"


def test_findings_to_json_is_serialisable_for_every_rule() -> None:
    findings = [f for d in _sample_decisions() for f in d.findings]
    assert {f.rule for f in findings} == set(RULES)
    payload = findings_to_json(findings)
    assert json.loads(json.dumps(payload)) == payload
    overlap = next(p for p in payload if p["rule"] == PARTNER_OVERLAP)
    assert overlap["other_registration_id"] == 90
    assert overlap["score"] is None


def test_findings_to_json_converts_sets_and_dates_in_evidence() -> None:
    finding = Finding(
        rule="X",
        severity=Severity.INFO,
        message="m",
        evidence={"w": frozenset({"b", "a"}), "at": T0, "nested": {"t": (1, 2)}},
    )
    (item,) = findings_to_json([finding])
    assert item["evidence"] == {
        "w": ["a", "b"],
        "at": "2024-01-18T09:00:00+00:00",
        "nested": {"t": [1, 2]},
    }


def test_module_imports_nothing_with_side_effects() -> None:
    tree = ast.parse(Path(rules.__file__).read_text(encoding="utf-8"))
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported == {"collections.abc", "dataclasses", "datetime", "conflict.types"}
