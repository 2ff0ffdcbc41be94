"""Claiming due rows so that several scheduler processes never do one unit of work twice.

On PostgreSQL a claim is ``SELECT ... FOR UPDATE SKIP LOCKED``: concurrent claimers each get a
disjoint set of rows without waiting for one another. On SQLite the job's transaction starts with
``BEGIN IMMEDIATE`` (``models.db.write_intent()``), which takes the database write lock up front,
so claimers simply run one after the other.

Outbox delivery claims in a short transaction of its own and commits it before talking to the
outside world: the row is marked ``sending`` with a lease (``claimed_until``). A worker that dies
mid-send leaves the row in ``sending``; once the lease runs out another run claims it again and
sends it with the same Message-ID / webhook-id, so a crash causes at most one duplicate that
receivers can recognise. ``attempts`` grows with every claim and, together with the lease end,
fences the result: a worker whose lease was taken over cannot overwrite the new owner's outcome.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from models import OutboxMessage, WebhookEndpoint
from models.db import is_postgres

T = TypeVar("T")

LEASE = timedelta(minutes=5)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
# The longest a receiver may ask us to wait with Retry-After; beyond it we use our own schedule.
RETRY_AFTER_CAP = timedelta(hours=24)


def claim_due(
    sess: Session,
    model: type[T],
    *,
    where: Sequence[Any],
    order_by: Sequence[Any] = (),
    limit: int = 100,
) -> list[T]:
    """Select and lock due rows of model; rows locked by another worker are skipped."""
    stmt = sa.select(model).where(*where).order_by(*order_by).limit(limit)
    if is_postgres(sess):
        stmt = stmt.with_for_update(skip_locked=True)
    return list(sess.execute(stmt).scalars())


@dataclass(frozen=True)
class Claimed:
    """A snapshot of a claimed outbox row, safe to use after the claim is committed."""

    id: int
    message_id: str
    event: str
    channel: str
    recipient: str
    recipient_user_id: int | None
    endpoint_id: int | None
    subject: str
    template: str
    context: dict[str, Any]
    attempts: int
    lease_until: datetime
    created_at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


def _due_outbox(channel: str, now: datetime) -> list[Any]:
    status = col(OutboxMessage.status)
    return [
        col(OutboxMessage.channel) == channel,
        sa.or_(
            sa.and_(status == "pending", col(OutboxMessage.next_attempt_at) <= now),
            # A worker died after claiming: its lease ran out, so the row is due again.
            sa.and_(status == "sending", col(OutboxMessage.claimed_until) < now),
        ),
    ]


def claim_outbox(
    sess: Session,
    channel: str,
    now: datetime,
    *,
    limit: int = 50,
    lease: timedelta = LEASE,
) -> list[Claimed]:
    """Claim due outbox rows of one channel, mark them sending and commit the claim."""
    where = _due_outbox(channel, now)
    if channel == "webhook":
        # A disabled endpoint's messages are never claimed: each delivery run fails them first
        # (webhooks.dead_letter_disabled), so the admin sees them; enabling it again sends them.
        enabled = sa.select(col(WebhookEndpoint.id)).where(col(WebhookEndpoint.enabled).is_(True))
        where.append(col(OutboxMessage.endpoint_id).in_(enabled))
    rows = claim_due(
        sess,
        OutboxMessage,
        where=where,
        order_by=(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id)),
        limit=limit,
    )
    lease_until = now + lease
    claimed: list[Claimed] = []
    for row in rows:
        row.status = "sending"
        row.attempts += 1
        row.claimed_until = lease_until
        assert row.id is not None
        claimed.append(
            Claimed(
                id=row.id,
                message_id=row.message_id,
                event=row.event,
                channel=row.channel,
                recipient=row.recipient,
                recipient_user_id=row.recipient_user_id,
                endpoint_id=row.endpoint_id,
                subject=row.subject,
                template=row.template,
                context=dict(row.context or {}),
                attempts=row.attempts,
                lease_until=lease_until,
                created_at=row.created_at,
            )
        )
    sess.commit()
    return claimed


def _owned(msg: Claimed) -> list[Any]:
    return [
        col(OutboxMessage.id) == msg.id,
        col(OutboxMessage.status) == "sending",
        col(OutboxMessage.attempts) == msg.attempts,
        col(OutboxMessage.claimed_until) == msg.lease_until,
    ]


def _finish(sess: Session, msg: Claimed, **values: Any) -> bool:
    result = sess.execute(sa.update(OutboxMessage).where(*_owned(msg)).values(**values))
    sess.commit()
    return bool(getattr(result, "rowcount", 0))


def mark_sent(sess: Session, msg: Claimed, now: datetime) -> bool:
    """Record a delivered message; False when the claim was lost to another worker."""
    return _finish(sess, msg, status="sent", sent_at=now, claimed_until=None, last_error=None)


def mark_retry(sess: Session, msg: Claimed, when: datetime, error: str) -> bool:
    """Put a message back in the queue to be tried again at when."""
    return _finish(
        sess,
        msg,
        status="pending",
        next_attempt_at=when,
        claimed_until=None,
        last_error=error[:2000],
    )


def mark_dead(sess: Session, msg: Claimed, error: str) -> bool:
    """Give up on a message, keeping the reason for the operators."""
    return _finish(sess, msg, status="dead", claimed_until=None, last_error=error[:2000])


def release(sess: Session, msgs: Sequence[Claimed], now: datetime) -> None:
    """Hand back claimed messages that were not tried, without counting an attempt."""
    for msg in msgs:
        sess.execute(
            sa.update(OutboxMessage)
            .where(*_owned(msg))
            .values(
                status="pending",
                attempts=msg.attempts - 1,
                next_attempt_at=now,
                claimed_until=None,
            )
        )
    sess.commit()


def backoff(attempts: int, *, now: datetime, jitter: float = 0.1) -> datetime:
    """Return when to retry after the given number of attempts: 1, 2, 4 ... minutes, max 1 h."""
    exponent = max(attempts - 1, 0)
    delay = min(BACKOFF_BASE * (2 ** min(exponent, 20)), BACKOFF_CAP)
    # Jitter spreads retries after an outage so they do not all hit the server at once.
    factor = 1 + random.uniform(-jitter, jitter)
    return now + delay * factor


def retry_time(attempts: int, *, now: datetime, retry_after: timedelta | None = None) -> datetime:
    """Return the next attempt time, honouring a receiver's Retry-After when given."""
    if retry_after is not None:
        return now + min(max(retry_after, timedelta(0)), RETRY_AFTER_CAP)
    return backoff(attempts, now=now)
