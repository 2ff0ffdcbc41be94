"""Versioned policy: thresholds, SLAs, registration lifetime and the business calendar."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from pydantic import Field as PField
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from models.audit_log import record_audit
from models.base import (
    forget_per_transaction,
    json_column,
    per_transaction,
    ts_column,
    utcnow,
)


class CalendarData(BaseModel):
    """The national business calendar; districts add their own holidays."""

    timezone: str = "America/New_York"
    workdays: list[int] = PField(default_factory=lambda: [0, 1, 2, 3, 4])
    day_start: str = "09:00"
    day_end: str = "17:00"
    holidays: list[str] = PField(
        default_factory=lambda: [
            "2026-01-01",
            "2026-01-19",
            "2026-05-25",
            "2026-07-03",
            "2026-09-07",
            "2026-11-26",
            "2026-11-27",
            "2026-12-25",
            "2027-01-01",
            "2027-01-18",
            "2027-05-31",
            "2027-07-05",
            "2027-09-06",
            "2027-11-25",
            "2027-11-26",
            "2027-12-24",
        ]
    )


class PolicyData(BaseModel):
    """Every number the rules, SLAs and lifecycle read; never hard-coded elsewhere."""

    pc_threshold: int = PField(default=4000, ge=0)
    fuzzy_match_score: float = PField(default=92.0, ge=0, le=100)
    fuzzy_review_score: float = PField(default=85.0, ge=0, le=100)
    high_impact_value: int = PField(default=250_000, ge=0)
    sla_hours: dict[str, float] = PField(default_factory=lambda: {"1": 16, "2": 16, "3": 24})
    exception_sla_hours: dict[str, float] = PField(
        default_factory=lambda: {"1": 8, "2": 8, "3": 16}
    )
    sla_warning_hours: float = PField(default=4, ge=0)
    registration_lifetime_days: int = PField(default=90, ge=1)
    reminder_lead_days: int = PField(default=14, ge=0)
    extension_days: int = PField(default=30, ge=1)
    review_period_months: int = PField(default=6, ge=1)
    auto_publish_synced_lists: bool = False
    calendar: CalendarData = PField(default_factory=CalendarData)


class PolicyVersion(SQLModel, table=True):
    """One immutable version of the policy; exactly one is active."""

    __tablename__ = "policy_version"
    __table_args__ = (
        sa.Index(
            "uq_policy_version_one_active",
            "active",
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(unique=True)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    active: bool = Field(default=False)
    note: str = Field(default="", max_length=500)
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))

    @property
    def values(self) -> PolicyData:
        """Return the validated policy values."""
        return PolicyData.model_validate(self.data)


def active_policy(sess: Session) -> PolicyVersion:
    """Return the active policy version, creating version 1 from defaults on a new database."""
    # A request reads the policy in several places (rules, lifetime, SLAs); one query serves all.
    return per_transaction(sess, "active_policy", lambda: _load_active(sess))


def remember_active_policy(sess: Session, row: PolicyVersion) -> None:
    """Let active_policy answer with a row the caller read with other facts, or just made."""
    # Replace, not keep: after a new version is made the value held so far is the retired row.
    forget_per_transaction(sess, "active_policy")
    per_transaction(sess, "active_policy", lambda: row)


def _load_active(sess: Session) -> PolicyVersion:
    row = sess.execute(
        sa.select(PolicyVersion).where(PolicyVersion.active.is_(True))  # type: ignore[attr-defined]
    ).scalar_one_or_none()
    if row is None:
        row = PolicyVersion(version=1, data=PolicyData().model_dump(), active=True, note="defaults")
        try:
            # Concurrent first requests race to create version 1; the loser reads the winner's.
            with sess.begin_nested():
                sess.add(row)
                sess.flush()
        except sa.exc.IntegrityError:
            row = sess.execute(
                sa.select(PolicyVersion).where(PolicyVersion.active.is_(True))  # type: ignore[attr-defined]
            ).scalar_one()
    return row


class PolicyError(ValueError):
    """A new policy version cannot be made from what was given."""


class PolicyUnchanged(PolicyError):
    """The values given equal the active version's."""


class PolicyConflict(PolicyError):
    """Another version became active while this one was being made."""


NOTE_MAX = 500


def normalised_policy(values: PolicyData) -> PolicyData:
    """Return the values with workdays and holidays sorted and unique, SLA levels as strings."""
    data = values.model_dump()
    calendar = data["calendar"]
    calendar["workdays"] = sorted({int(d) for d in calendar["workdays"]})
    calendar["holidays"] = sorted(set(calendar["holidays"]))
    for table in ("sla_hours", "exception_sla_hours"):
        data[table] = {str(k): float(v) for k, v in sorted(data[table].items())}
    return PolicyData.model_validate(data)


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def policy_changes(old: PolicyData, new: PolicyData) -> dict[str, list[Any]]:
    """Return {field: [old, new]} for each differing field; nested ones as "calendar.timezone"."""
    before = _flat(normalised_policy(old).model_dump())
    after = _flat(normalised_policy(new).model_dump())
    # In the order the model declares its fields, so the history reads like the form.
    keys = list(after) + [key for key in before if key not in after]
    return {
        key: [before.get(key), after.get(key)] for key in keys if before.get(key) != after.get(key)
    }


def _active_stmt() -> Any:
    return (
        sa.select(PolicyVersion)
        .where(PolicyVersion.active.is_(True))  # type: ignore[attr-defined]
        .with_for_update()
        # The row may already sit in the session from an earlier read; take the locked values.
        .execution_options(populate_existing=True)
    )


def _lock_active(sess: Session) -> PolicyVersion:
    row = sess.execute(_active_stmt()).scalar_one_or_none()
    if row is None:
        # A new database has no version yet, or (PostgreSQL) another save deactivated the row
        # while this one waited for its lock; a fresh statement sees whichever is active now.
        _load_active(sess)
        row = sess.execute(_active_stmt()).scalar_one()
    return row


def create_policy_version(
    sess: Session,
    values: PolicyData,
    *,
    note: str,
    actor_id: int | None,
    based_on: int | None = None,
) -> PolicyVersion:
    """Make values the active policy as a new version, retiring the current one; audit it.

    based_on is the version number the caller's values were edited from: when another version
    became active meanwhile, PolicyConflict is raised instead of silently undoing its changes.
    """
    note = note.strip()
    if not note:
        raise PolicyError("Say why the policy changes.")
    if len(note) > NOTE_MAX:
        raise PolicyError(f"Keep the note to {NOTE_MAX} characters.")
    current = _lock_active(sess)
    if based_on is not None and current.version != based_on:
        raise PolicyConflict(
            f"Version {current.version} was saved while you were editing version {based_on}; "
            "check its values and make your change again."
        )
    new = normalised_policy(values)
    changed = policy_changes(current.values, new)
    if not changed:
        raise PolicyUnchanged(
            f"Nothing changed: these are the values of version {current.version}, "
            "so no new version was made."
        )
    latest = sess.execute(sa.select(sa.func.max(PolicyVersion.version))).scalar_one()
    row = PolicyVersion(
        version=int(latest or 0) + 1,
        data=new.model_dump(),
        active=True,
        note=note,
        created_by_id=actor_id,
    )
    try:
        with sess.begin_nested():
            current.active = False
            # Retire the old row first: the one-active index must never see two active rows.
            sess.flush()
            sess.add(row)
            sess.flush()
    except sa.exc.IntegrityError:
        raise PolicyConflict(
            "Another policy version was saved at the same moment; reload the page, check its "
            "values and make your change again."
        ) from None
    record_audit(
        sess,
        actor_id,
        "policy.created",
        "policy_version",
        row.id,
        version=row.version,
        previous_version=current.version,
        note=note,
        changed=changed,
    )
    remember_active_policy(sess, row)
    return row
