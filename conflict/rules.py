"""The rules of engagement: a registry of pure rules and the loop that checks a registration.

``evaluate`` asks the account matcher once, builds a :class:`Context`, runs every rule in
:data:`RULES` order and derives the outcome from the findings with :data:`OUTCOME_TABLE`. Rules read
thresholds from the :class:`~conflict.types.Policy` they are given, never from constants here, so a
decision can be reproduced from the list and policy versions it records.

Rule codes (the contract; SPEC section 3, plus ``NEEDS_REVIEW``):

``NAMED_ACCOUNT``
    A partner registers a customer that confidently matches a named account -> ``conflict``.
    MCS registering a named account is in its own space and produces no finding.
``NEEDS_REVIEW``
    A partner registers a customer that only resembles a named account (an uncertain match, and
    no confident one) -> ``warning``; the outcome is ``in_conflict``: a conflict ticket goes to
    level 1 of the candidate account's district, where a reviewer confirms the match (the
    named-account rules then apply) or releases the registration. Exception review is the wrong
    queue for it: it is a question about the named-account list, not a request for an exception.
    The message gives the matcher's reason for doubt: a name several accounts share, a web
    domain that is not the account's, a close runner-up, or a score below the match threshold.
    A partner's dry run names no candidate (:func:`conceal_look_alike`) and tells nothing of
    another registration (:func:`conceal_other_claim`).
    For MCS an uncertain match does not make the account named; the size rule decides, and its
    message names the look-alike account so MCS can register again with the account's domain.
``MCS_SIZE_THRESHOLD``
    MCS registers a customer that is not named and does not have more than
    ``policy.pc_threshold`` PCs -> ``block`` (rejected). An unknown PC count is not shown to be
    above the threshold, so it counts as outside MCS's space. When ``DOTNET_EXCEPTION`` applies
    the finding stays as evidence with severity ``warning``.
``DOTNET_EXCEPTION``
    MCS engages outside its space with the early .NET adoption flag and an estimated value at or
    above ``policy.high_impact_value`` -> ``warning``; outcome ``in_exception_review``. Where a
    partner sells .NET servers or middleware to the customer the no-bid block comes first and the
    finding is ``info``: no exception ticket opens beside the rejection.
``MCS_OVERLAP``
    A partner registers a non-named customer with more than the threshold of PCs where MCS holds
    an active engagement, or MCS registers such a customer where a partner holds one ->
    ``conflict``, one finding per other registration. For a partner's registration the customer
    is in MCS's space when either side's recorded PC count is above the threshold, so the verdict
    does not depend on who registered first, and a blank PC count cannot hide an overlap.
``NO_BID_DOTNET``
    MCS engages a customer (named or not) where a partner holds an active registration for .NET
    servers or middleware -> ``block`` (rejected; only a level-3 exception grant overrides it).
    For such a pair it replaces ``MCS_OVERLAP``: both would describe the same two registrations.
``PARTNER_OVERLAP``
    A partner registers where another partner holds an active registration with overlapping
    workloads -> ``conflict``, with the priority verdict in the evidence (all-Microsoft stack
    first, then the earlier submission; a tie, or a registration not yet stamped, goes to the
    existing one). Different workloads are no conflict and produce no finding: a partner must not
    learn about other partners' business with a customer.

Messages are written for the partner or reviewer who reads them and never name another partner.
A finding's ``district`` is where its ticket goes: the matched account's district for
``NAMED_ACCOUNT`` and ``NEEDS_REVIEW``, the registration's own district for the other rules.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from conflict.types import (
    DOTNET_WORKLOADS,
    METHOD_WORDS,
    WORKLOAD_LABELS,
    AccountMatch,
    AccountMatcher,
    Decision,
    Engagement,
    Facts,
    Finding,
    MatchDoubt,
    MatchMethod,
    Outcome,
    Policy,
    Severity,
    score_text,
)

__all__ = [
    "ACTIVE_STATUSES",
    "DOTNET_EXCEPTION",
    "MCS_OVERLAP",
    "MCS_SIZE_THRESHOLD",
    "NAMED_ACCOUNT",
    "NEEDS_REVIEW",
    "NO_BID_DOTNET",
    "OTHER_SIDE_RULES",
    "OUTCOME_TABLE",
    "PARTNER_OVERLAP",
    "RULES",
    "Context",
    "RuleFn",
    "conceal_look_alike",
    "conceal_other_claim",
    "derive_outcome",
    "describe",
    "evaluate",
    "findings_to_json",
]

NAMED_ACCOUNT = "NAMED_ACCOUNT"
NEEDS_REVIEW = "NEEDS_REVIEW"
MCS_SIZE_THRESHOLD = "MCS_SIZE_THRESHOLD"
DOTNET_EXCEPTION = "DOTNET_EXCEPTION"
MCS_OVERLAP = "MCS_OVERLAP"
NO_BID_DOTNET = "NO_BID_DOTNET"
PARTNER_OVERLAP = "PARTNER_OVERLAP"

# Registration statuses that still hold a claim on a customer.
ACTIVE_STATUSES: frozenset[str] = frozenset(
    {"submitted", "approved", "in_conflict", "in_exception_review"}
)

_PARTNER = "partner"
_MCS = "mcs"
_ALL_MICROSOFT = "all_microsoft"

# In a sentence "middleware" is a common noun; every other label is a product name.
_WORKLOAD_WORDS: dict[str, str] = {**WORKLOAD_LABELS, "middleware": "middleware"}


@dataclass(frozen=True, slots=True)
class Context:
    """What the rules know besides the registration: the matcher's answer and other claims."""

    matches: tuple[AccountMatch, ...]
    engagements: tuple[Engagement, ...]
    list_version_id: int | None
    # District display names by code, for sentences; a code without a name is shown as is.
    district_names: Mapping[str, str] = field(default_factory=dict)

    def district_name(self, code: str) -> str:
        """Return a district's display name, or its code when the name is not known."""
        return self.district_names.get(code) or code

    @property
    def named(self) -> AccountMatch | None:
        """Return the best confident match: the named account this customer is."""
        return next((m for m in self.matches if m.confident), None)

    @property
    def look_alike(self) -> AccountMatch | None:
        """Return the best uncertain match when there is no confident one."""
        if self.named is not None:
            return None
        return next((m for m in self.matches if not m.confident), None)


RuleFn = Callable[[Facts, Context, Policy], list[Finding]]


# --- wording helpers ------------------------------------------------------------------------


def _n(value: int) -> str:
    return f"{value:,}"


def _money(value: int) -> str:
    # Estimated values and the high-impact threshold are whole dollars, as the pages show them.
    return f"${value:,}"


def _pcs(count: int | None) -> str:
    return "an unknown number of PCs" if count is None else f"{_n(count)} PCs"


def _threshold(policy: Policy) -> str:
    return f"the {_n(policy.pc_threshold)}-PC threshold"


def _workloads(workloads: Iterable[str]) -> str:
    words = [_WORKLOAD_WORDS.get(w, w) for w in sorted(workloads)]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _how(match: AccountMatch) -> str:
    method = METHOD_WORDS.get(match.method, str(match.method))
    return f"{method} (score {score_text(match.score)} of 100)"


def _account_label(match: AccountMatch) -> str:
    account = match.account
    return f"{account.name} ({account.account_id})"


def _doubts(match: AccountMatch, policy: Policy) -> tuple[MatchDoubt, ...]:
    if match.doubts:
        return match.doubts
    # A matcher that reports no doubt leaves the score as the only reason the rules can see.
    return (MatchDoubt.BELOW_THRESHOLD,) if match.score < policy.fuzzy_match_score else ()


def _doubt_clause(doubt: MatchDoubt, facts: Facts, match: AccountMatch, ctx: Context) -> str:
    if doubt is MatchDoubt.SHARED_NAME:
        sharing = sum(1 for m in ctx.matches if m.method in (MatchMethod.EXACT, MatchMethod.ALIAS))
        many = f"{sharing} named accounts" if sharing > 1 else "several named accounts"
        return f"{many} share that name, so it is not clear which one it is"
    if doubt is MatchDoubt.CLOSE_RUNNER_UP:
        return "another named account resembles it about as closely"
    if doubt is MatchDoubt.DOMAIN_DIFFERS:
        listed = match.account.domain  # normalised when the list was imported
        if facts.customer_domain and listed:
            return f"its web domain, {facts.customer_domain}, is not the account's, {listed}"
        return "its web domain is not the account's"
    return "the match is not certain"


def _look_alike_text(
    subject: str, facts: Facts, ctx: Context, match: AccountMatch, policy: Policy
) -> str:
    """Say which named account a customer may be and why the match is not certain."""
    doubts = _doubts(match, policy)
    below = MatchDoubt.BELOW_THRESHOLD in doubts
    others = [
        _doubt_clause(d, facts, match, ctx) for d in doubts if d != MatchDoubt.BELOW_THRESHOLD
    ]
    verb = "resembles" if below else "may be"
    text = f"{subject} {verb} the named account {_account_label(match)}, matched {_how(match)}"
    if below:
        text += (
            f", below the {policy.fuzzy_match_score:.1f} needed to treat them as the same company"
        )
        return text + "".join(f", and {clause}" for clause in others)
    return text + ", but " + " and ".join(others or ["the match is not certain"])


def _match_evidence(match: AccountMatch) -> dict[str, object]:
    account = match.account
    return {
        "account_id": account.id,
        "account_ref": account.account_id,
        "account_name": account.name,
        "method": str(match.method),
        "score": round(match.score, 1),
        "matched_on": match.matched_on,
        "reasons": list(match.reasons),
        "segment": account.segment,
        "district": account.district,
        "mcs_owner_email": account.mcs_owner_email,
    }


def _match_finding(
    rule: str, severity: Severity, message: str, match: AccountMatch, evidence: dict[str, object]
) -> Finding:
    """Return a finding about a matched account; its district is where the ticket goes."""
    account = match.account
    return Finding(
        rule=rule,
        severity=severity,
        message=message,
        account_id=account.id,
        account_ref=account.account_id,
        account_name=account.name,
        method=str(match.method),
        score=match.score,
        mcs_owner_email=account.mcs_owner_email,
        district=account.district,
        evidence=evidence,
    )


# --- shared predicates ----------------------------------------------------------------------


def _above(count: int | None, policy: Policy) -> bool:
    # "More than 4,000 PCs": the threshold itself is outside MCS's space, and so is an unknown
    # count, which nobody has shown to be above it.
    return count is not None and count > policy.pc_threshold


def _outside_mcs_space(facts: Facts, ctx: Context, policy: Policy) -> bool:
    return facts.party == _MCS and ctx.named is None and not _above(facts.pc_count, policy)


def _high_impact(facts: Facts, policy: Policy) -> bool:
    return (
        facts.dotnet_early_adoption
        and facts.estimated_value is not None
        and facts.estimated_value >= policy.high_impact_value
    )


def _dotnet_exception_applies(facts: Facts, ctx: Context, policy: Policy) -> bool:
    return _outside_mcs_space(facts, ctx, policy) and _high_impact(facts, policy)


def _no_bid_holders(facts: Facts, ctx: Context) -> list[Engagement]:
    """Return the partner registrations MCS has committed not to bid against."""
    if facts.party != _MCS:
        return []
    return [e for e in ctx.engagements if e.party == _PARTNER and e.workloads & DOTNET_WORKLOADS]


def _same_partner(facts: Facts, other: Engagement) -> bool:
    return facts.partner_id is not None and facts.partner_id == other.partner_id


# --- the rules ------------------------------------------------------------------------------


def named_account(facts: Facts, ctx: Context, policy: Policy) -> list[Finding]:
    """Flag a partner registration on a customer that is a named account."""
    match = ctx.named
    if facts.party != _PARTNER or match is None:
        return []
    account = match.account
    where = f"the {ctx.district_name(account.district)} district's" if account.district else "a"
    owner = (
        f" The account's MCS owner, {account.mcs_owner_email}, is told."
        if account.mcs_owner_email
        else ""
    )
    message = (
        f"{facts.customer_name} is the named account {_account_label(match)}, matched "
        f"{_how(match)}. Named accounts are served by MCS, so this registration goes to "
        f"{where} channel manager as an MCS-versus-partner conflict.{owner}"
    )
    return [
        _match_finding(NAMED_ACCOUNT, Severity.CONFLICT, message, match, _match_evidence(match))
    ]


def needs_review(facts: Facts, ctx: Context, policy: Policy) -> list[Finding]:
    """Ask a reviewer whether a partner's customer is a named account it only resembles."""
    match = ctx.look_alike
    if facts.party != _PARTNER or match is None:
        return []
    message = (
        _look_alike_text(facts.customer_name, facts, ctx, match, policy) + ". A channel manager "
        "will confirm whether they are the same company, in which case the named-account rules "
        "apply, or release this registration."
    )
    evidence = _match_evidence(match)
    evidence["match_score_needed"] = policy.fuzzy_match_score
    evidence["other_candidates"] = [
        m.account.name for m in ctx.matches if m is not match and not m.confident
    ]
    return [_match_finding(NEEDS_REVIEW, Severity.WARNING, message, match, evidence)]


def mcs_size_threshold(facts: Facts, ctx: Context, policy: Policy) -> list[Finding]:
    """Reject an MCS engagement on a customer outside MCS's space, unless an exception applies."""
    if not _outside_mcs_space(facts, ctx, policy):
        return []
    name = facts.customer_name
    if facts.pc_count is None:
        size = (
            f"{name}'s PC count is unknown and it is not a named account, so it is not shown "
            f"to be above {_threshold(policy)}."
        )
    else:
        size = (
            f"{name} has {_pcs(facts.pc_count)}, not more than {_threshold(policy)}, and is "
            f"not a named account."
        )
    space = (
        f" MCS engages only named accounts and accounts of more than {_n(policy.pc_threshold)} PCs."
    )
    exception_applies = _dotnet_exception_applies(facts, ctx, policy)
    if exception_applies and _no_bid_holders(facts, ctx):
        # The exception would apply, but the no-bid block rejects the engagement first.
        verdict = (
            " It would go to exception review as a high-impact early .NET engagement, but the"
            " no-bid commitment blocks it."
        )
    elif exception_applies:
        verdict = " It goes to exception review as a high-impact early .NET engagement."
    else:
        verdict = " The engagement is rejected." + _why_no_exception(facts, policy)
    look_alike = ctx.look_alike
    hint = ""
    if look_alike is not None and not exception_applies:
        hint = (
            " " + _look_alike_text("It", facts, ctx, look_alike, policy) + "; if it is that "
            "account, register again with the account's web domain."
        )
    evidence: dict[str, object] = {
        "pc_count": facts.pc_count,
        "pc_threshold": policy.pc_threshold,
        "dotnet_early_adoption": facts.dotnet_early_adoption,
        "estimated_value": facts.estimated_value,
        "high_impact_value": policy.high_impact_value,
        "overridden_by": DOTNET_EXCEPTION if exception_applies else None,
    }
    if look_alike is not None:
        evidence["possible_account"] = _match_evidence(look_alike)
    return [
        Finding(
            rule=MCS_SIZE_THRESHOLD,
            severity=Severity.WARNING if exception_applies else Severity.BLOCK,
            message=size + space + verdict + hint,
            district=facts.district,
            evidence=evidence,
        )
    ]


def _why_no_exception(facts: Facts, policy: Policy) -> str:
    if not facts.dotnet_early_adoption:
        return ""
    threshold = _money(policy.high_impact_value)
    if facts.estimated_value is None:
        return (
            f" It is flagged as early .NET adoption, but no estimated value is given, so it "
            f"cannot be weighed against the high-impact threshold of {threshold}."
        )
    return (
        f" It is flagged as early .NET adoption, but its estimated value of "
        f"{_money(facts.estimated_value)} is below the high-impact threshold of {threshold}, so no "
        f"exception applies."
    )


def dotnet_exception(facts: Facts, ctx: Context, policy: Policy) -> list[Finding]:
    """Send a high-impact early .NET engagement outside MCS's space to exception review."""
    if not _dotnet_exception_applies(facts, ctx, policy):
        return []
    value = facts.estimated_value or 0
    message = (
        f"MCS's engagement with {facts.customer_name} ({_pcs(facts.pc_count)}) is outside its "
        f"space, but it is flagged as early .NET adoption with an estimated value of "
        f"{_money(value)}, at or above the high-impact threshold of "
        f"{_money(policy.high_impact_value)}."
    )
    holders = _no_bid_holders(facts, ctx)
    partner_ids = [e.registration_id for e in ctx.engagements if e.party == _PARTNER]
    if holders:
        message += (
            " It would go to exception review, but a partner sells .NET servers or middleware "
            "to this customer, and the no-bid commitment comes first."
        )
    else:
        message += " It goes to the exception review queue, where a reviewer grants or denies it."
        if partner_ids:
            message += " Partners also hold active registrations on this customer."
    evidence: dict[str, object] = {
        "estimated_value": facts.estimated_value,
        "high_impact_value": policy.high_impact_value,
        "pc_count": facts.pc_count,
        "pc_threshold": policy.pc_threshold,
        "partner_registration_ids": partner_ids,
    }
    return [
        Finding(
            rule=DOTNET_EXCEPTION,
            # Blocked by the no-bid commitment, the exception is only evidence: no exception
            # ticket opens, and the override goes through the no-bid block's level-3 path.
            severity=Severity.INFO if holders else Severity.WARNING,
            message=message,
            district=facts.district,
            evidence=evidence,
        )
    ]


def mcs_overlap(facts: Facts, ctx: Context, policy: Policy) -> list[Finding]:
    """Flag MCS and a partner both engaging a large customer that is not a named account."""
    if ctx.named is not None:
        return []
    if facts.party == _PARTNER:
        return [
            _mcs_overlap_finding(facts, e, policy, mcs_is_new=False)
            for e in ctx.engagements
            if e.party == _MCS and (_above(facts.pc_count, policy) or _above(e.pc_count, policy))
        ]
    if facts.party == _MCS and _above(facts.pc_count, policy):
        no_bid = {e.registration_id for e in _no_bid_holders(facts, ctx)}
        return [
            _mcs_overlap_finding(facts, e, policy, mcs_is_new=True)
            for e in ctx.engagements
            if e.party == _PARTNER and e.registration_id not in no_bid
        ]
    return []


def _mcs_overlap_finding(
    facts: Facts, other: Engagement, policy: Policy, *, mcs_is_new: bool
) -> Finding:
    if _above(facts.pc_count, policy):
        size = (
            f"{facts.customer_name} is not a named account but has {_pcs(facts.pc_count)}, more "
            f"than {_threshold(policy)}, so MCS may engage there."
        )
    else:
        # Only the other side's count is above: say so without telling its figure, which is
        # that registration's own fact and not the reader's.
        size = (
            f"{facts.customer_name} is not a named account, and MCS's engagement records more "
            f"PCs than {_threshold(policy)}, so MCS may engage there."
        )
    if mcs_is_new:
        lead = "A partner already holds an active registration on this customer."
        tail = "This engagement goes to a channel manager as an MCS-versus-partner conflict."
    else:
        lead = "MCS already has an active engagement with this customer."
        tail = "This registration goes to a channel manager as an MCS-versus-partner conflict."
    return Finding(
        rule=MCS_OVERLAP,
        severity=Severity.CONFLICT,
        message=f"{size} {lead} {tail}",
        other_registration_id=other.registration_id,
        district=facts.district,
        evidence={
            "pc_count": facts.pc_count,
            "other_pc_count": other.pc_count,
            "pc_threshold": policy.pc_threshold,
            "other_party": other.party,
            "other_status": other.status,
        },
    )


def no_bid_dotnet(facts: Facts, ctx: Context, policy: Policy) -> list[Finding]:
    """Block MCS from bidding against a partner selling .NET servers or middleware."""
    findings = []
    for other in _no_bid_holders(facts, ctx):
        protected = other.workloads & DOTNET_WORKLOADS
        message = (
            f"A partner holds an active registration to sell {_workloads(protected)} to "
            f"{facts.customer_name}. MCS does not bid against partners selling .NET servers and "
            f"middleware, so this engagement is blocked; only a national (level 3) exception "
            f"grant can override it."
        )
        findings.append(
            Finding(
                rule=NO_BID_DOTNET,
                severity=Severity.BLOCK,
                message=message,
                other_registration_id=other.registration_id,
                district=facts.district,
                evidence={
                    "protected_workloads": sorted(protected),
                    "override_level": 3,
                    "other_status": other.status,
                },
            )
        )
    return findings


def _stack_rank(stack: str | None) -> int:
    # Only an all-Microsoft stack earns priority; competitive middleware and an unstated stack
    # stand level, and the earlier submission decides between them.
    return 0 if stack == _ALL_MICROSOFT else 1


def partner_overlap(facts: Facts, ctx: Context, policy: Policy) -> list[Finding]:
    """Flag two partners registering the same customer for overlapping workloads."""
    if facts.party != _PARTNER:
        return []
    findings = []
    for other in ctx.engagements:
        if other.party != _PARTNER or _same_partner(facts, other):
            continue
        shared = facts.workloads & other.workloads
        if not shared:
            continue
        findings.append(_partner_overlap_finding(facts, other, shared))
    return findings


def _partner_overlap_finding(facts: Facts, other: Engagement, shared: frozenset[str]) -> Finding:
    mine, theirs = _stack_rank(facts.solution_stack), _stack_rank(other.solution_stack)
    if mine != theirs:
        this_leads = mine < theirs
        reason = "all-Microsoft stack"
        why = "it offers an all-Microsoft stack and " + (
            "the other partner's does not" if this_leads else "this one does not"
        )
    else:
        # A registration not yet stamped is being submitted now, after every existing one.
        this_leads = facts.submitted_at is not None and facts.submitted_at < other.submitted_at
        reason = "earlier submission"
        why = "it was submitted earlier"
    leader = "This registration" if this_leads else "The other partner's registration"
    message = (
        f"Another partner already holds an active registration for {facts.customer_name} "
        f"covering {_workloads(shared)}, which this registration also covers. {leader} has "
        f"priority because {why}; a channel manager decides."
    )
    evidence: dict[str, object] = {"overlapping_workloads": sorted(shared)}
    leader_id = facts.registration_id if this_leads else other.registration_id
    # A registration being submitted has no id yet: the evidence then leaves the leader's id
    # out rather than claim a null one, and the service adds it once the row exists.
    if leader_id is not None:
        evidence["leader_registration_id"] = leader_id
    evidence.update(
        {
            "leader_is_this_registration": this_leads,
            "reason": reason,
            "solution_stack": facts.solution_stack,
            "other_solution_stack": other.solution_stack,
            "other_submitted_at": other.submitted_at.isoformat(),
            "other_status": other.status,
        }
    )
    return Finding(
        rule=PARTNER_OVERLAP,
        severity=Severity.CONFLICT,
        message=message,
        other_registration_id=other.registration_id,
        district=facts.district,
        evidence=evidence,
    )


# The priority reasons the partner-overlap rule records, as the clause its sentence uses.
_LEAD_BECAUSE: dict[str, tuple[str, str]] = {
    # (when the other partner's registration leads, when the reader's leads)
    "all-Microsoft stack": (
        "it offers an all-Microsoft stack and yours does not",
        "it offers an all-Microsoft stack and the other partner's does not",
    ),
    "earlier submission": ("it was submitted earlier", "it was submitted earlier"),
}


# The rules whose finding names a second registration that may belong to another partner, who
# reads the finding told from their own side (other_side_message).
OTHER_SIDE_RULES = frozenset({PARTNER_OVERLAP, MCS_OVERLAP})


def other_side_message(
    evidence: Mapping[str, object] | None, customer_name: str, rule: str = PARTNER_OVERLAP
) -> str:
    """Return an overlap sentence for the partner whose registration did not raise it."""
    evidence = evidence or {}
    if rule == MCS_OVERLAP:
        threshold = evidence.get("pc_threshold")
        above = f"more than {_n(threshold)} PCs" if isinstance(threshold, int) else "enough PCs"
        return (
            f"MCS has registered an engagement with {customer_name}, where your registration is "
            f"active. {customer_name} is not a named account but has {above}, so MCS may engage "
            f"there; a channel manager decides who leads."
        )
    listed = evidence.get("overlapping_workloads")
    workloads = [str(w) for w in listed] if isinstance(listed, list | tuple) else []
    text = (
        f"Another partner also holds an active registration for {customer_name} covering "
        f"{_workloads(workloads) or 'the same workloads'}, which your registration covers too."
    )
    because = _LEAD_BECAUSE.get(str(evidence.get("reason")))
    raised_leads = evidence.get("leader_is_this_registration")
    if because is None or not isinstance(raised_leads, bool):
        return text + " A channel manager decides which registration has priority."
    leader = "The other partner's registration" if raised_leads else "Your registration"
    why = because[0] if raised_leads else because[1]
    return text + f" {leader} has priority because {why}; a channel manager decides."


def conceal_look_alike(finding: Finding, customer_name: str) -> Finding:
    """Return a possible-named-account finding as a partner's dry run tells it: no candidate.

    The account look-up answers an uncertain match with "needs review" and names no account,
    score or district, or the list could be mined by guessing names until the score rises; a
    check that stores nothing must not tell more than the look-up does.
    """
    if finding.rule != NEEDS_REVIEW:
        return finding
    message = (
        f"{customer_name} resembles a named account, but not certainly enough to say it is "
        f"that account. If you register it, a channel manager will confirm whether it is, in "
        f"which case the named-account rules apply, or release the registration."
    )
    return replace(
        finding,
        message=message,
        account_id=None,
        account_ref=None,
        account_name=None,
        method=None,
        score=None,
        mcs_owner_email=None,
        district=None,
        evidence={},
    )


def conceal_other_claim(finding: Finding, customer_name: str) -> Finding:
    """Return an overlap finding as a partner's dry run tells it: no detail of the other claim.

    A submission records who asked and leaves a ticket; a dry run does neither, so repeated
    with every workload and stack it would map another partner's (or MCS's) business with the
    customer. It says only that another claim may conflict, as the outcome already does.
    """
    if finding.rule not in (PARTNER_OVERLAP, MCS_OVERLAP):
        return finding
    message = (
        f"Another registration on {customer_name} may conflict with this one. If you register "
        f"it, a channel manager reviews both and decides which one leads."
    )
    return replace(
        finding,
        message=message,
        other_registration_id=None,
        mcs_owner_email=None,
        district=None,
        evidence={},
    )


# The registry: evaluate() runs these in this order, and findings keep the order.
RULES: dict[str, RuleFn] = {
    NAMED_ACCOUNT: named_account,
    NEEDS_REVIEW: needs_review,
    MCS_SIZE_THRESHOLD: mcs_size_threshold,
    DOTNET_EXCEPTION: dotnet_exception,
    MCS_OVERLAP: mcs_overlap,
    NO_BID_DOTNET: no_bid_dotnet,
    PARTNER_OVERLAP: partner_overlap,
}

# Outcome derivation: the first row that any finding matches decides; no match -> approved.
# A row matches a finding by rule code (when given) and by severity (when given). The size
# rule's override by DOTNET_EXCEPTION needs no row of its own: that rule lowers its severity to
# warning when the exception applies, so only the exception row sees it.
OUTCOME_TABLE: tuple[tuple[str | None, Severity | None, Outcome], ...] = (
    (NO_BID_DOTNET, None, Outcome.REJECTED),
    (None, Severity.BLOCK, Outcome.REJECTED),
    (DOTNET_EXCEPTION, None, Outcome.IN_EXCEPTION_REVIEW),
    (NEEDS_REVIEW, None, Outcome.IN_CONFLICT),
    (None, Severity.CONFLICT, Outcome.IN_CONFLICT),
)


def derive_outcome(findings: Sequence[Finding]) -> Outcome:
    """Return the outcome the findings lead to, by the first matching row of OUTCOME_TABLE."""
    for rule, severity, outcome in OUTCOME_TABLE:
        for finding in findings:
            if (rule is None or finding.rule == rule) and (
                severity is None or finding.severity == severity
            ):
                return outcome
    return Outcome.APPROVED


def evaluate(
    facts: Facts,
    matcher: AccountMatcher,
    engagements: Sequence[Engagement],
    policy: Policy,
    *,
    district_names: Mapping[str, str] | None = None,
) -> Decision:
    """Check a registration against the named-account list and the rules of engagement."""
    if facts.party not in (_PARTNER, _MCS):
        raise ValueError(f"unknown party {facts.party!r}; expected 'partner' or 'mcs'")
    matches = tuple(
        matcher.match(
            facts.customer_name,
            facts.customer_domain,
            district=facts.district,
            pc_count=facts.pc_count,
            match_score=policy.fuzzy_match_score,
            review_score=policy.fuzzy_review_score,
        )
    )
    # The caller loads active claims on the customer; filtering again keeps a re-check from
    # overlapping with itself and a stale row from counting as a claim.
    active = tuple(
        e
        for e in engagements
        if e.status in ACTIVE_STATUSES
        and (facts.registration_id is None or e.registration_id != facts.registration_id)
    )
    ctx = Context(
        matches=matches,
        engagements=active,
        list_version_id=matcher.list_version_id,
        # Not `or {}`: a mapping that reads its names only when a sentence needs one stays lazy.
        district_names={} if district_names is None else district_names,
    )
    findings = tuple(f for rule in RULES.values() for f in rule(facts, ctx, policy))
    return Decision(
        outcome=derive_outcome(findings),
        findings=findings,
        list_version_id=matcher.list_version_id,
        policy_version_id=policy.version_id,
    )


_OUTCOME_WORDS: dict[Outcome, str] = {
    Outcome.APPROVED: "Approved",
    Outcome.IN_CONFLICT: "In conflict, for a channel manager to decide",
    Outcome.IN_EXCEPTION_REVIEW: "Sent to exception review",
    Outcome.REJECTED: "Rejected",
}


def describe(decision: Decision) -> str:
    """Summarise a decision in one paragraph a partner or reviewer can read."""
    parts = [_OUTCOME_WORDS[decision.outcome] + "."]
    if decision.findings:
        parts.extend(f.message for f in decision.findings)
    else:
        parts.append("No rule of engagement applies.")
    listed = (
        f"named-account list version {decision.list_version_id}"
        if decision.list_version_id is not None
        else "no published named-account list"
    )
    policy = (
        f"policy version {decision.policy_version_id}"
        if decision.policy_version_id is not None
        else "the default policy"
    )
    parts.append(f"Checked against {listed} under {policy}.")
    return " ".join(parts)


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted((_jsonable(v) for v in value), key=str)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def findings_to_json(findings: Iterable[Finding]) -> list[dict[str, object]]:
    """Return findings in the API and CLI shape: rule, severity, message and evidence."""
    return [
        {
            "rule": f.rule,
            "severity": str(f.severity),
            "message": f.message,
            "account_id": f.account_id,
            "account_name": f.account_name,
            "method": f.method,
            "score": None if f.score is None else round(f.score, 1),
            "other_registration_id": f.other_registration_id,
            "evidence": _jsonable(f.evidence),
        }
        for f in findings
    ]
