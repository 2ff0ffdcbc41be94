"""Jinja filters and the navigation every page shows."""

from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask_login import current_user

from conflict.types import WORKLOAD_LABELS, score_text
from escalation.states import RESOLUTION_LABELS
from web.district_names import district_name

NAV_BY_ROLE: dict[str, list[tuple[str, str]]] = {
    "partner": [
        ("conflict.registrations", "My registrations"),
        ("conflict.new_registration", "Register a deal"),
        ("lists.account_lookup", "Account look-up"),
    ],
    "mcs": [
        ("conflict.registrations", "Engagements"),
        ("conflict.new_registration", "Register an engagement"),
        ("lists.account_lookup", "Account look-up"),
    ],
    "reviewer": [
        ("escalation.queue", "Review queue"),
        ("escalation.dashboard", "Dashboard"),
        ("lists.reviews", "List reviews"),
        ("dpor.customer", "Customers"),
        ("lists.account_lookup", "Account look-up"),
    ],
    "admin": [
        ("escalation.dashboard", "Dashboard"),
        ("escalation.queue", "Review queue"),
        ("conflict.registrations", "Registrations"),
        ("lists.index", "Named-account lists"),
        ("lists.account_lookup", "Account look-up"),
        ("admin.index", "Administration"),
    ],
}


def format_dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    """Format an aware datetime for display in UTC."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime(fmt)


def format_money(value: int | None) -> str:
    """Format a whole-dollar amount."""
    return "—" if value is None else f"${value:,.0f}"


def format_wait(seconds: int) -> str:
    """Say how long to wait in the largest whole unit that fits: minutes, or seconds under two."""
    if seconds >= 120:
        # Rounded up: "try again in 15 minutes" must not be a minute too soon.
        minutes = -(-seconds // 60)
        return f"{minutes} minutes"
    return "1 second" if seconds == 1 else f"{seconds} seconds"


# Vocabulary values whose display name is not just the words capitalised.
VOCABULARY_LABELS: dict[str, str] = {
    **WORKLOAD_LABELS,
    **RESOLUTION_LABELS,
    "mcs": "MCS",
    "all_microsoft": "All-Microsoft",
    "competitive_middleware": "Competitive middleware",
    "ea_open": "EA/Open",
    "csp": "CSP",
    "fasttrack": "FastTrack",
    "delegated_admin": "Delegated admin",
    "fanout": "Fan-out",
    "isv_software": "ISV software",
    "api": "API",
    "cli": "Command line",
    "sync": "Sync from URL",
    "sla_warning": "SLA warning",
}


def label(value: str | None) -> str:
    """Turn a vocabulary value such as 'in_conflict' into 'In conflict'."""
    if not value:
        return "—"
    return VOCABULARY_LABELS.get(value) or value.replace("_", " ").capitalize()


def init_app(app: Flask) -> None:
    """Register filters and the navigation context."""
    app.jinja_env.filters["dt"] = format_dt
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["wait"] = format_wait
    app.jinja_env.filters["score"] = score_text
    app.jinja_env.filters["label"] = label
    # Imported here: the evidence lines are built with this module's label and money formats.
    from web.evidence import evidence_rows

    app.jinja_env.filters["evidence_rows"] = evidence_rows
    app.jinja_env.filters["district_name"] = district_name

    @app.context_processor
    def _nav() -> dict[str, Any]:
        items: list[tuple[str, str]] = []
        if current_user.is_authenticated:
            items = [*NAV_BY_ROLE.get(current_user.role, []), ("profile.index", "Profile")]
        return {"nav_items": items}
