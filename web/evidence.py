"""A finding's evidence as labelled lines a reviewer reads, and what of it a partner may read.

A ticket between two partners, or between MCS and a partner, has one finding, written for the
registration that raised it. A partner on the other side reads it told from their own side: the
sentence and the title name the customer as their own registration does, and nothing about the
other registration (its id, stack, dates, status) is shown.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from conflict.rules import OTHER_SIDE_RULES, PARTNER_OVERLAP, other_side_message
from conflict.service import partner_safe_evidence
from conflict.types import METHOD_WORDS, RULE_TITLES, score_text
from models import ConflictFinding, Ticket, User
from web.district_names import district_name
from web.templating import format_money, label

# Shown as the finding's own lines (matched account, method, score) right above the evidence.
SHOWN_WITH_FINDING = frozenset({"account_id", "account_ref", "account_name", "method", "score"})

EVIDENCE_LABELS: dict[str, str] = {
    "matched_on": "Matched on",
    "reasons": "Why it matched",
    "segment": "Account segment",
    # The account's district on a match, the registration's on the other rules.
    "district": "District",
    "mcs_owner_email": "MCS owner e-mail",
    "match_score_needed": "Score needed to count as the account",
    "other_candidates": "Other look-alike accounts",
    "pc_count": "PCs registered",
    "pc_threshold": "PC threshold",
    "other_pc_count": "PCs on the other registration",
    "dotnet_early_adoption": "Early .NET adoption",
    "estimated_value": "Estimated value",
    "high_impact_value": "High-impact value from",
    "overridden_by": "Overridden by",
    "possible_account": "Resembles the named account",
    "partner_registration_ids": "Partner registrations on this customer",
    "other_party": "Other party",
    "other_status": "Other registration's status",
    "protected_workloads": "Protected workloads",
    "override_level": "Only overridden at level",
    "overlapping_workloads": "Overlapping workloads",
    "leader_registration_id": "Leading registration",
    "leader_is_this_registration": "This registration leads",
    "reason": "Why it leads",
    "solution_stack": "Solution stack",
    "other_solution_stack": "Other registration's solution stack",
    "other_submitted_at": "Other registration submitted",
}
MONEY_KEYS = frozenset({"estimated_value", "high_impact_value"})
COUNT_KEYS = frozenset({"pc_count", "pc_threshold", "other_pc_count"})
REGISTRATION_KEYS = frozenset({"leader_registration_id", "partner_registration_ids"})
VOCABULARY_KEYS = frozenset(
    {
        "method",
        "other_party",
        "other_status",
        "solution_stack",
        "other_solution_stack",
        "segment",
        "protected_workloads",
        "overlapping_workloads",
    }
)


def _account_line(match: Mapping[str, Any]) -> str:
    name = str(match.get("account_name") or "—")
    ref = match.get("account_ref")
    line = f"{name} ({ref})" if ref else name
    if match.get("method"):
        method = str(match["method"])
        line += f", matched {METHOD_WORDS.get(method, method)}"
    if match.get("score") is not None:
        line += f", score {score_text(float(match['score']))} of 100"
    return line


def _value(key: str, value: Any) -> str:
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Mapping):
        if "account_name" in value:
            return _account_line(value)
        return "; ".join(f"{label(str(k))}: {_value(str(k), v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value(key, v) for v in value)
    if key in REGISTRATION_KEYS and isinstance(value, int):
        return f"#{value}"
    if key in MONEY_KEYS and isinstance(value, int | float):
        return format_money(int(value))
    if key in COUNT_KEYS and isinstance(value, int):
        return f"{value:,}"
    if "score" in key and isinstance(value, int | float):
        return score_text(float(value))
    if key == "district" and isinstance(value, str):
        return district_name(value)
    if key in VOCABULARY_KEYS and isinstance(value, str):
        return label(value)
    if key == "other_submitted_at" and isinstance(value, str):
        # Stored as an ISO timestamp; shown to the minute like every other time on the page.
        return value[:16].replace("T", " ") + " UTC"
    return str(value)


def evidence_rows(evidence: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Return (label, text) lines for a finding's evidence, leaving out what the finding shows."""
    return [
        (EVIDENCE_LABELS.get(key) or label(key), _value(key, value))
        for key, value in (evidence or {}).items()
        if key not in SHOWN_WITH_FINDING
    ]


# --- what a partner may read --------------------------------------------------------------


def own_registration_ids(ticket: Ticket, user: User) -> frozenset[int] | None:
    """Return the ticket's registrations of a partner user's organisation (None: not a partner)."""
    if user.role != "partner":
        return None
    if user.partner_id is None:
        return frozenset()
    sides: list[tuple[int | None, int | None]] = [
        (ticket.registration_id, ticket.partner_id),
        (ticket.other_registration_id, ticket.other_partner_id),
    ]
    return frozenset(
        reg_id
        for reg_id, partner_id in sides
        if reg_id is not None and partner_id == user.partner_id
    )


def partner_evidence(rule: str, evidence: Mapping[str, Any] | None, *, own: bool) -> dict[str, Any]:
    """Return the evidence a partner may read, told from the partner's own registration."""
    safe = partner_safe_evidence(dict(evidence or {}))
    if own:
        return safe
    # The flag speaks of the registration the finding was written for, not the reader's.
    raised_leads = safe.pop("leader_is_this_registration", None)
    if rule == PARTNER_OVERLAP and isinstance(raised_leads, bool):
        safe["leader_is_this_registration"] = not raised_leads
    return safe


def partner_message(finding: ConflictFinding, *, own: bool, customer_name: str) -> str:
    """Return a finding's sentence as a partner reads it."""
    if own or finding.rule not in OTHER_SIDE_RULES:
        return finding.message
    return other_side_message(finding.evidence, customer_name, finding.rule)


def other_side_bodies(
    findings: Iterable[ConflictFinding], own_ids: frozenset[int], customer_name: str
) -> dict[str, str]:
    """Return, for a partner, the sentence to show instead of each other-side finding's text.

    A ticket's opening event repeats its finding's sentence, so the timeline swaps it too.
    """
    return {
        f.message: partner_message(f, own=False, customer_name=customer_name)
        for f in findings
        if f.registration_id not in own_ids and f.rule in OTHER_SIDE_RULES
    }


def ticket_title_for(ticket: Ticket, own_ids: frozenset[int] | None, customer_name: str) -> str:
    """Return a ticket's title, naming the customer as the reader's own registration does."""
    if own_ids is None or not own_ids or ticket.registration_id in own_ids:
        return ticket.title or ticket.rule
    return f"{RULE_TITLES.get(ticket.rule, label(ticket.rule))}: {customer_name}"
