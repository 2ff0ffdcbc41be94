"""Registration lifetime: expiry reminders ahead of time, then expiry (scheduler jobs)."""

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from escalation import notify
from escalation.service import _chunks, close_tickets_of
from models import Registration, User
from models.audit_log import record_audit
from models.policy import active_policy


def send_expiry_reminders(sess: Session, now: datetime) -> int:
    """Remind the registering users of approved registrations that expire within the lead time."""
    lead = timedelta(days=active_policy(sess).values.reminder_lead_days)
    due = (
        sess.execute(
            sa.select(Registration)
            .where(
                Registration.status == "approved",
                Registration.expires_at.is_not(None),
                Registration.expires_at > now,
                Registration.expires_at <= now + lead,
                Registration.reminder_sent_at.is_(None),
            )
            .order_by(Registration.expires_at, Registration.id)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    for reg in due:
        reg.reminder_sent_at = now
        user = sess.get(User, reg.submitted_by_id)
        days = max(0, (reg.expires_at - now).days) if reg.expires_at else 0
        notify.enqueue_email(
            sess,
            event="registration.expiry_reminder",
            template="expiry_reminder",
            subject=f"Registration {reg.id} for {reg.customer_name} expires in {days} days",
            context={
                "headline": f"Your registration for {reg.customer_name} expires soon.",
                "lines": [
                    f"It expires on {reg.expires_at:%Y-%m-%d}." if reg.expires_at else "",
                    "Request an extension from the registration page before it expires.",
                ],
                "url": notify.absolute_url(f"/registrations/{reg.id}"),
                "registration_id": reg.id,
                "customer_name": reg.customer_name,
                "due_at": reg.expires_at.isoformat() if reg.expires_at else None,
            },
            user=user,
        )
    return len(due)


class Expired(NamedTuple):
    """A registration the expiry job has just expired."""

    id: int
    party: str
    partner_id: int | None
    submitted_by_id: int
    customer_name: str
    expires_at: datetime | None


def expire_registrations(sess: Session, now: datetime) -> int:
    """Expire approved registrations past their lifetime (set-based); tell who registered them."""
    sent = send_expiry_reminders(sess, now)
    expired_ids = (
        sess.execute(
            sa.select(Registration.id)
            .where(
                Registration.status == "approved",
                Registration.expires_at.is_not(None),
                Registration.expires_at <= now,
            )
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    expired = _expire(sess, list(expired_ids), now) if expired_ids else []
    if expired:
        record_audit(
            sess,
            None,
            "registrations.expired",
            "registration",
            "batch",
            ids=[r.id for r in expired],
        )
        _notify_expired(sess, expired)
        # An expired registration no longer holds the customer: the tickets it stood on close.
        close_tickets_of(sess, [r.id for r in expired], actor_id=None, happened="expired")
    return sent + len(expired)


def _expire(sess: Session, ids: list[int], now: datetime) -> list[Expired]:
    """Expire the registrations among ids that are still approved; return those it changed."""
    # Only the rows this statement changed are told, so a concurrent run tells nobody twice.
    rows = sess.execute(
        sa.update(Registration)
        .where(Registration.id.in_(ids), Registration.status == "approved")
        .values(status="expired", updated_at=now)
        .returning(
            Registration.id,
            Registration.party,
            Registration.partner_id,
            Registration.submitted_by_id,
            Registration.customer_name,
            Registration.expires_at,
        )
    ).all()
    return sorted((Expired._make(row) for row in rows), key=lambda r: r.id)


def _notify_expired(sess: Session, expired: list[Expired]) -> None:
    """Tell each expired registration's registrants by e-mail, and the webhook endpoints."""
    people = _registrants(sess, expired)
    for reg in expired:
        expires_at = reg.expires_at.isoformat() if reg.expires_at else None
        notify.enqueue_emails(
            sess,
            people[reg.id],
            event="registration.expired",
            template="registration_expired",
            subject=f"Registration #{reg.id} for {reg.customer_name} has expired",
            context={
                "headline": f"Your registration for {reg.customer_name} has expired.",
                "lines": ["Register the deal again if you are still working on it."],
                "url": notify.absolute_url(f"/registrations/{reg.id}"),
                "registration_id": reg.id,
                "customer_name": reg.customer_name,
                "due_at": expires_at,
            },
            look_up=False,
        )
        notify.enqueue_webhooks(
            sess,
            event="registration.expired",
            payload={
                "registration_id": reg.id,
                "status": "expired",
                "party": reg.party,
                "partner_id": reg.partner_id,
                "expires_at": expires_at,
            },
        )


def _registrants(sess: Session, expired: list[Expired]) -> dict[int, list[User]]:
    """Return registration id -> its partner's active users (MCS: its submitter alone)."""
    partner_ids = {r.partner_id for r in expired if r.party == "partner" and r.partner_id}
    submitter_ids = {r.submitted_by_id for r in expired if r.party != "partner"}
    by_partner: dict[int | None, list[User]] = defaultdict(list)
    for user in _users(sess, partner_ids, User.partner_id):
        if user.role == "partner" and user.is_active:
            by_partner[user.partner_id].append(user)
    by_id = {user.id: user for user in _users(sess, submitter_ids, User.id)}
    people: dict[int, list[User]] = {}
    for r in expired:
        if r.party == "partner":
            people[r.id] = by_partner.get(r.partner_id, [])
        else:
            submitter = by_id.get(r.submitted_by_id)
            people[r.id] = [submitter] if submitter is not None else []
    return people


def _users(sess: Session, values: set[int], column: Any) -> list[User]:
    """Return the users whose column holds one of values, in id order."""
    found: list[User] = []
    for chunk in _chunks(sorted(values)):
        found.extend(
            sess.execute(sa.select(User).where(column.in_(chunk)).order_by(User.id)).scalars()
        )
    return found
