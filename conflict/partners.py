"""Partner organisations as admins manage them: create one, change one, with an audit trail.

Every rule the database enforces (a unique name, points of 0 or more, a known district) is
checked here first, so a bad request gets a message beside the field instead of an error page.
The callers commit.
"""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from models import District, Partner, User
from models.audit_log import field_changes, record_audit
from models.base import MAX_ID
from models.db import lock_key
from models.partner import COMPETENCIES, GOLD_POINTS

NAME_MAX = 200
# Far above any real programme's points, and well inside the database's integer column.
MAX_POINTS = 1_000_000
# Escalation routes a Gold partner's tickets to its coordinator only when that person is an
# active reviewer (escalation.service._could_own, escalation.routing.pick_owner); anyone else
# would be ignored there, so only reviewers can be chosen.
COORDINATOR_ROLES: tuple[str, ...] = ("reviewer",)
_ORDER = {c: i for i, c in enumerate(COMPETENCIES)}
EDITABLE: tuple[str, ...] = (
    "name",
    "points",
    "district",
    "competencies",
    "technical_coordinator_id",
    "active",
)


class PartnerError(ValueError):
    """Input that cannot be saved, with a message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors

    @property
    def field(self) -> str:
        """Return the first field at fault."""
        return next(iter(self.errors))

    @property
    def message(self) -> str:
        """Return the first field's message."""
        return self.errors[self.field]


@dataclass(frozen=True)
class PartnerData:
    """What an admin sets on a partner organisation."""

    name: str
    points: int = 0
    district: str | None = None
    competencies: list[str] = field(default_factory=list)
    technical_coordinator_id: int | None = None
    active: bool = True


def coordinator_candidates(sess: Session) -> list[User]:
    """Return the users who may be a partner's technical coordinator, by name."""
    return list(
        sess.execute(
            sa.select(User)
            .where(col(User.role).in_(COORDINATOR_ROLES), col(User.is_active).is_(True))
            .order_by(User.name, User.email)
        ).scalars()
    )


def _name_taken(sess: Session, name: str, own_id: int | None) -> bool:
    """Return True when another partner has this name, ignoring case."""
    # Compared in Python: SQLite's lower() folds ASCII letters only.
    folded = name.casefold()
    rows = sess.execute(sa.select(col(Partner.id), col(Partner.name))).all()
    return any(pid != own_id and other.casefold() == folded for pid, other in rows)


def _check_name(sess: Session, raw: str, own_id: int | None, errors: dict[str, str]) -> str:
    name = (raw or "").strip()
    if not name:
        errors["name"] = "Enter the partner's name."
    elif len(name) > NAME_MAX:
        errors["name"] = f"Use at most {NAME_MAX} characters."
    else:
        # Two admins saving names that differ only in case are ordered here; the unique index
        # cannot see that they clash.
        lock_key(sess, "partner.name:" + name.casefold())
        if _name_taken(sess, name, own_id):
            errors["name"] = "Another partner already has this name (case is ignored)."
    return name


def _check_points(points: Any, errors: dict[str, str]) -> None:
    if isinstance(points, bool) or not isinstance(points, int):
        errors["points"] = "Enter the points as a whole number."
    elif points < 0:
        errors["points"] = "Points cannot be negative."
    elif points > MAX_POINTS:
        errors["points"] = f"Use at most {MAX_POINTS:,} points."


def _check_district(sess: Session, code: str | None, errors: dict[str, str]) -> str | None:
    if not code:
        return None
    if sess.get(District, code) is None:
        errors["district"] = "Choose a district from the list, or no district."
    return code


def _in_order(values: Iterable[str] | None) -> list[str]:
    """Return competencies without repeats in the programme's order (unknown ones last)."""
    return sorted(set(values or []), key=lambda c: (_ORDER.get(c, len(_ORDER)), c))


def _check_competencies(values: Iterable[str], errors: dict[str, str]) -> list[str]:
    chosen = _in_order(values)
    unknown = [c for c in chosen if c not in _ORDER]
    if unknown:
        errors["competencies"] = f"Unknown competency: {', '.join(unknown)}."
    return chosen


def _coordinator_problem(sess: Session, user_id: int) -> str | None:
    """Return why a user cannot be a technical coordinator, or None."""
    user = sess.get(User, user_id) if 0 < user_id <= MAX_ID else None
    if user is None:
        return "Choose a coordinator from the list, or no coordinator."
    if not user.is_active:
        return f"{user.display_name}'s account is disabled; choose an active reviewer."
    if user.role not in COORDINATOR_ROLES:
        return (
            f"{user.display_name} is not a reviewer; only reviewers are routed the "
            "escalations a coordinator owns."
        )
    return None


def _check_coordinator(
    sess: Session, user_id: int | None, existing: Partner | None, errors: dict[str, str]
) -> None:
    if user_id is None:
        return
    # A coordinator who has since been disabled may stay until someone picks another, so the
    # partner's other fields can still be changed.
    if existing is not None and user_id == existing.technical_coordinator_id:
        return
    problem = _coordinator_problem(sess, user_id)
    if problem:
        errors["technical_coordinator_id"] = problem


def _checked(sess: Session, data: PartnerData, existing: Partner | None) -> PartnerData:
    """Return the input cleaned, or raise PartnerError with a message per field."""
    errors: dict[str, str] = {}
    name = _check_name(sess, data.name, existing.id if existing else None, errors)
    _check_points(data.points, errors)
    district = _check_district(sess, data.district, errors)
    competencies = _check_competencies(data.competencies, errors)
    _check_coordinator(sess, data.technical_coordinator_id, existing, errors)
    if (
        "points" not in errors
        and data.points >= GOLD_POINTS
        and data.technical_coordinator_id is None
    ):
        # A Gold partner's escalations are owned by its coordinator until resolved; without
        # one they would fall to the district queue as if the partner were not Gold.
        errors["technical_coordinator_id"] = (
            f"A Gold partner ({GOLD_POINTS} points or more) needs a technical coordinator, "
            "who owns its escalations."
        )
    if errors:
        raise PartnerError(errors)
    return PartnerData(
        name=name,
        points=data.points,
        district=district,
        competencies=competencies,
        technical_coordinator_id=data.technical_coordinator_id,
        active=bool(data.active),
    )


@contextmanager
def _name_race(sess: Session, name: str, own_id: int | None) -> Iterator[None]:
    """Turn a unique-name violation by a concurrent save into the name field's message."""
    try:
        # A savepoint, so a refused write leaves the caller's transaction usable.
        with sess.begin_nested():
            yield
    except IntegrityError:
        if _name_taken(sess, name, own_id):
            raise PartnerError(
                {"name": "Another partner already has this name (case is ignored)."}
            ) from None
        raise


def _snapshot(partner: Partner) -> dict[str, Any]:
    return {name: getattr(partner, name) for name in EDITABLE}


def create_partner(sess: Session, data: PartnerData, *, actor_id: int | None) -> Partner:
    """Create a partner organisation from checked input and audit it; the caller commits."""
    clean = _checked(sess, data, None)
    partner = Partner(**{name: getattr(clean, name) for name in EDITABLE})
    with _name_race(sess, clean.name, None):
        sess.add(partner)
        sess.flush()
    record_audit(sess, actor_id, "partner.created", "partner", partner.id, **_snapshot(partner))
    return partner


def _stored(partner: Partner, name: str) -> Any:
    value = getattr(partner, name)
    # Stored lists may be in any order; the same set is no change.
    return _in_order(value) if name == "competencies" else value


def update_partner(
    sess: Session, partner: Partner, data: PartnerData, *, actor_id: int | None
) -> dict[str, list[Any]]:
    """Apply checked changes to a partner and audit them; return {field: [old, new]}."""
    clean = _checked(sess, data, partner)
    changed = field_changes(
        EDITABLE, lambda name: _stored(partner, name), lambda name: getattr(clean, name)
    )
    if not changed:
        return changed
    with _name_race(sess, clean.name, partner.id):
        for name, (_old, new) in changed.items():
            setattr(partner, name, new)
        sess.flush()
    record_audit(sess, actor_id, "partner.updated", "partner", partner.id, changed=changed)
    return changed
