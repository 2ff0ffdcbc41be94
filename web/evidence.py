"""A finding's evidence as labelled lines a reviewer reads, not as raw keys and JSON."""

from collections.abc import Mapping
from typing import Any

from conflict.types import METHOD_WORDS
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
        line += f", score {float(match['score']):.1f} of 100"
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
