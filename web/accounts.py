"""User accounts as admins manage them: create, change, disable, enable, set a new password.

Every rule the database enforces (a partner user belongs to an organisation, a reviewer has a
level) is checked here first, so a bad request gets a message per field instead of an error,
and nothing about who may do what is left to the page.
"""

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from sqlalchemy.orm import Session

from escalation.service import OPEN_STATUSES, STAFF_ROLES, assign, can_own, ticket_coordinator
from models import District, Partner, Ticket, User
from models.audit_log import field_changes, record_audit
from models.user import ROLES
from web.passwords import hash_password, password_problem


class AccountError(ValueError):
    """Input that cannot be saved, with a message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass
class AccountData:
    """What an admin sets on an account (the password only when creating one)."""

    email: str
    role: str
    name: str = ""
    partner_id: int | None = None
    level: int | None = None
    districts: list[str] = field(default_factory=list)
    region: str | None = None
    password: str | None = None


def _email(value: str, errors: dict[str, str]) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        # The validator's sentences say "email"; the product writes "e-mail".
        errors["email"] = str(exc).replace("email address", "e-mail address")
        return value.strip().lower()


def _scope(sess: Session, data: AccountData, errors: dict[str, str]) -> None:
    """Check the organisation and territory fields against the role."""
    if data.role == "partner":
        if data.partner_id is None:
            errors["partner_id"] = "Choose the partner organisation this user belongs to."
        elif sess.get(Partner, data.partner_id) is None:
            errors["partner_id"] = "No such partner organisation."
    elif data.partner_id is not None:
        errors["partner_id"] = "Only partner users belong to a partner organisation."
    if data.role != "reviewer":
        if data.level is not None or data.districts or data.region:
            errors["level"] = "Only reviewers have a level, districts or a region."
        return
    if data.level not in (1, 2, 3):
        errors["level"] = "Choose the reviewer's level: 1 district, 2 region or 3 national."
        return
    places = sess.execute(sa.select(District.code, District.region)).all()
    known = {code for code, _region in places}
    unknown = sorted(set(data.districts) - known)
    if unknown:
        errors["districts"] = f"Unknown district(s): {', '.join(unknown)}."
    if data.level == 1 and not data.districts:
        errors["districts"] = "A level-1 reviewer works at least one district."
    if data.level == 2 and not (data.region or data.districts):
        errors["region"] = "A level-2 reviewer covers a region or a set of districts."
    if data.region and data.region not in {region for _code, region in places}:
        errors["region"] = "No district is in that region."
    # A field the level does not use would be saved but never read, or worse read by a job
    # that trusts it: refuse it, as the form itself never sends it.
    if data.level == 3 and data.districts:
        errors["districts"] = "A national (level-3) reviewer covers every district; choose none."
    if data.level != 2 and data.region:
        errors["region"] = "Only a level-2 reviewer covers a region; choose no region."


def _check(
    sess: Session, data: AccountData, existing: User | None, actor: User | None
) -> AccountData:
    errors: dict[str, str] = {}
    email = _email(data.email, errors)
    if "email" not in errors:
        taken = sess.execute(
            sa.select(User.id).where(sa.func.lower(User.email) == email)
        ).scalar_one_or_none()
        if taken is not None and (existing is None or taken != existing.id):
            errors["email"] = "Another account already uses this e-mail address."
    if data.role not in ROLES:
        errors["role"] = "Choose a role."
    if len(data.name) > 200:
        errors["name"] = "Use at most 200 characters."
    _scope(sess, data, errors)
    if existing is None:
        problem = password_problem(data.password or "")
        if problem:
            errors["password"] = problem
    elif actor is not None and existing.id == actor.id and data.role != "admin":
        errors["role"] = "You cannot take the admin role from your own account."
    elif existing.role in STAFF_ROLES and data.role not in STAFF_ROLES:
        owned = len(owned_open_tickets(sess, existing.id or 0))
        if owned:
            # Only staff work tickets: someone leaving the staff hands their open ones on first.
            errors["role"] = f"They own {owned} open ticket(s); reassign them from the queue first."
    if errors:
        raise AccountError(errors)
    reviewer = data.role == "reviewer"
    return AccountData(
        email=email,
        role=data.role,
        name=data.name.strip(),
        partner_id=data.partner_id if data.role == "partner" else None,
        level=data.level if reviewer else None,
        districts=sorted(set(data.districts)) if reviewer else [],
        region=(data.region or None) if reviewer else None,
        password=data.password,
    )


def create_account(sess: Session, data: AccountData, *, actor: User | None) -> User:
    """Create an account from checked input and audit it (no actor: the command line)."""
    clean = _check(sess, data, None, actor)
    user = User(
        email=clean.email,
        name=clean.name,
        role=clean.role,
        password_hash=hash_password(clean.password or ""),
        partner_id=clean.partner_id,
        level=clean.level,
        districts=clean.districts,
        region=clean.region,
    )
    sess.add(user)
    sess.flush()
    actor_id = actor.id if actor is not None else None
    record_audit(sess, actor_id, "user.created", "user", user.id, email=user.email, role=user.role)
    return user


EDITABLE = ("email", "name", "role", "partner_id", "level", "districts", "region")


def update_account(sess: Session, user: User, data: AccountData, *, actor: User) -> dict[str, Any]:
    """Apply checked changes to an account and audit them; return what changed."""
    clean = _check(sess, data, user, actor)
    changed = field_changes(
        EDITABLE, lambda name: getattr(user, name), lambda name: getattr(clean, name)
    )
    if not changed:
        return changed
    for name, (_old, new) in changed.items():
        setattr(user, name, new)
    if {"role", "partner_id"} & changed.keys():
        # What the person may see changed: cookies issued for the old access stop working.
        user.session_version += 1
    record_audit(sess, actor.id, "user.updated", "user", user.id, changed=changed)
    return changed


def _active_admins(sess: Session) -> int:
    return sess.execute(
        sa.select(sa.func.count())
        .select_from(User)
        .where(User.role == "admin", User.is_active.is_(True))  # type: ignore[attr-defined]
    ).scalar_one()


def set_active(sess: Session, user: User, active: bool, *, actor: User) -> bool:
    """Disable or enable an account and audit it; return False when it was already so."""
    if user.is_active == active:
        return False
    if not active:
        if user.id == actor.id:
            raise AccountError({"active": "You cannot disable your own account."})
        if user.role == "admin" and _active_admins(sess) <= 1:
            raise AccountError({"active": "The program needs at least one active admin."})
        # Signed-in sessions end at their next request; API tokens are refused from now on.
        user.session_version += 1
    user.is_active = active
    record_audit(sess, actor.id, "user.enabled" if active else "user.disabled", "user", user.id)
    return True


def set_password(sess: Session, user: User, password: str, *, actor: User) -> None:
    """Give an account a new password chosen by an admin, ending its sessions, and audit it."""
    problem = password_problem(password)
    if problem:
        raise AccountError({"password": problem})
    user.password_hash = hash_password(password)
    user.session_version += 1
    record_audit(sess, actor.id, "user.password_set", "user", user.id)


def owned_open_tickets(sess: Session, user_id: int) -> list[Ticket]:
    """Return the open and in-review tickets a user owns, most urgent first."""
    return list(
        sess.execute(
            sa.select(Ticket)
            .where(Ticket.owner_id == user_id, Ticket.status.in_(OPEN_STATUSES))  # type: ignore[attr-defined]
            .order_by(Ticket.sla_due_at, Ticket.id)
        ).scalars()
    )


@dataclass(frozen=True)
class HandOver:
    """What a hand-over did: the tickets moved, and those left that the taker cannot work."""

    moved: list[Ticket]
    left: list[Ticket]


def can_take_any(sess: Session, candidate: User, tickets: list[Ticket]) -> bool:
    """Return True when the candidate could own and decide at least one of the tickets."""
    return any(can_own(candidate, t, ticket_coordinator(sess, t)) for t in tickets)


def hand_over_tickets(sess: Session, user: User, *, to: User, actor: User) -> HandOver:
    """Assign a user's open tickets to someone who can work them; leave the rest with the user."""
    if to.id == user.id:
        raise AccountError({"assignee": "Choose someone else to take the tickets."})
    if to.role not in STAFF_ROLES or not to.is_active:
        raise AccountError({"assignee": "Choose an active reviewer or admin."})
    tickets = owned_open_tickets(sess, user.id or 0)
    movable = [t for t in tickets if can_own(to, t, ticket_coordinator(sess, t))]
    if tickets and not movable:
        # Nothing would move: say so rather than report a hand-over of none.
        raise AccountError(
            {
                "assignee": f"{to.display_name} covers none of these tickets at their level; "
                "choose someone whose territory and level include them."
            }
        )
    for ticket in movable:
        # The ticket's own assignment path: its timeline, audit event and the new owner's e-mail.
        assign(sess, ticket, assignee=to, actor=actor)
    left = [t for t in tickets if t not in movable]
    if movable:
        record_audit(
            sess,
            actor.id,
            "user.tickets_handed_over",
            "user",
            user.id,
            to_user_id=to.id,
            ticket_ids=[t.id for t in movable],
            left_ticket_ids=[t.id for t in left],
        )
    return HandOver(moved=movable, left=left)
