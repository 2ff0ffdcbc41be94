"""Registration lifetime: expiry reminders ahead of time, then expiry (scheduler jobs)."""

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from escalation import notify
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


def expire_registrations(sess: Session, now: datetime) -> int:
    """Expire approved registrations whose lifetime has run out (set-based)."""
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
    if expired_ids:
        sess.execute(
            sa.update(Registration)
            .where(Registration.id.in_(expired_ids), Registration.status == "approved")
            .values(status="expired", updated_at=now)
        )
        record_audit(
            sess, None, "registrations.expired", "registration", "batch", ids=list(expired_ids)
        )
    return sent + len(expired_ids)
