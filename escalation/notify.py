"""The notification outbox: e-mail and webhook messages written in the caller's transaction.

Every message is a row; a scheduler job delivers it after commit, so a rolled-back change
sends nothing and a crash loses nothing.

Context contract for e-mail templates (templates/email/<template>.txt and .html): every context
carries ``headline`` (one sentence), ``lines`` (list of plain sentences), ``url`` (absolute link
to the page to act on, may be empty) and, where they apply, ``ticket_id``, ``registration_id``,
``customer_name``, ``rule``, ``level``, ``resolution``, ``due_at`` (ISO string).

Users who chose ``notify_mode == "digest"`` get their e-mails ``held``; ``send_digests`` bundles
them once a day into one ``digest`` e-mail. A bundled message is marked ``sent`` (its content
went out inside the digest) and its context records ``digest_message_id``, the Message-ID of the
digest that carried it.
"""

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from escalation.claims import claim_due
from models import OutboxMessage, User, WebhookEndpoint, utcnow
from models.base import forget_per_transaction, per_transaction
from models.db import lock_key

EMAIL_TEMPLATES: tuple[str, ...] = (
    "registration_received",
    "conflict_opened",
    "ticket_assigned",
    "sla_warning",
    "ticket_escalated",
    "ticket_decided",
    "ticket_commented",
    "exception_routed",
    "expiry_reminder",
    "registration_expired",
    "list_published",
    "district_review_opened",
    "digest",
)


def new_message_id() -> str:
    """Return a globally unique, stable Message-ID for one outbox row."""
    return f"<{uuid.uuid4().hex}@channelguard>"


def new_webhook_id() -> str:
    """Return a globally unique, stable webhook-id for one webhook message."""
    return f"msg_{uuid.uuid4().hex}"


def absolute_url(path: str) -> str:
    """Turn an app path into an absolute link for e-mail."""
    base = current_app.config.get("BASE_URL", "") if has_app_context() else ""
    return f"{base.rstrip('/')}{path}" if path else ""


def _check_template(template: str) -> None:
    if template not in EMAIL_TEMPLATES:
        raise ValueError(f"unknown e-mail template {template!r}")


def enqueue_email(
    sess: Session,
    *,
    event: str,
    template: str,
    subject: str,
    context: dict[str, Any],
    user: User | None = None,
    email: str | None = None,
) -> OutboxMessage | None:
    """Queue one e-mail to a user (honouring their digest preference) or a bare address."""
    _check_template(template)
    address = user.email if user is not None else (email or "").strip().lower()
    if not address:
        return None
    if user is None:
        # A known address gets the user's preferences even when only the e-mail was given.
        user = sess.execute(sa.select(User).where(User.email == address)).scalar_one_or_none()
    return _queue_email(sess, event, template, subject, context, user=user, address=address)


def _queue_email(
    sess: Session,
    event: str,
    template: str,
    subject: str,
    context: dict[str, Any],
    *,
    user: User | None,
    address: str,
) -> OutboxMessage | None:
    if user is not None and not user.is_active:
        return None
    held = user is not None and user.notify_mode == "digest" and template != "digest"
    msg = OutboxMessage(
        channel="email",
        event=event,
        message_id=new_message_id(),
        recipient=address,
        recipient_user_id=user.id if user is not None else None,
        subject=subject,
        template=template,
        context=context,
        status="held" if held else "pending",
        next_attempt_at=utcnow(),
    )
    sess.add(msg)
    return msg


def enqueue_emails(
    sess: Session,
    recipients: Iterable[User | str],
    *,
    event: str,
    template: str,
    subject: str,
    context: dict[str, Any],
    look_up: bool = True,
) -> list[OutboxMessage]:
    """Queue the same e-mail to several recipients, once per address.

    Bare addresses are looked up as accounts unless look_up is False (the caller did it).
    """
    _check_template(template)
    by_address = _by_address(recipients)
    if look_up:
        _find_accounts(sess, by_address)
    out: list[OutboxMessage] = []
    for address, account in by_address.items():
        msg = _queue_email(sess, event, template, subject, context, user=account, address=address)
        if msg is not None:
            out.append(msg)
    return out


def _by_address(recipients: Iterable[User | str]) -> dict[str, User | None]:
    by_address: dict[str, User | None] = {}
    for r in recipients:
        address = (r.email if isinstance(r, User) else r or "").strip().lower()
        if address and address not in by_address:
            by_address[address] = r if isinstance(r, User) else None
    return by_address


def _find_accounts(sess: Session, by_address: dict[str, User | None]) -> None:
    # Bare addresses may belong to users (with their digest preference): look them up at once.
    bare = [a for a, u in by_address.items() if u is None]
    if bare:
        for known in sess.execute(sa.select(User).where(User.email.in_(bare))).scalars():
            by_address[known.email] = known  # the query matched it exactly, so the key exists


# Starts the error of every message failed only because its endpoint was disabled.
DISABLED_ERROR = "webhook endpoint disabled"


def disabled_error(reason: str | None) -> str:
    """Return the error kept on a message whose webhook endpoint is disabled."""
    because = f" ({reason})" if reason else ""
    return f"{DISABLED_ERROR}{because}; enabling it again sends this message"


def _takes_events() -> Any:
    # An endpoint disabled after failing still takes events: they are held for it (written
    # failed with DISABLED_ERROR) and sent when it is enabled again. One disabled on purpose,
    # by an admin or by its receiver's 410, takes none.
    return sa.or_(WebhookEndpoint.enabled.is_(True), WebhookEndpoint.hold_while_disabled.is_(True))


def _load_enabled_endpoints(sess: Session) -> list[WebhookEndpoint]:
    if has_app_context() and current_app.config.get("WEBHOOK_URLS"):
        from escalation.webhooks import sync_configured_endpoints

        sync_configured_endpoints(sess)
    return list(
        sess.execute(
            sa.select(WebhookEndpoint).where(_takes_events()).order_by(WebhookEndpoint.id)
        ).scalars()
    )


_ENDPOINTS_KEY = "webhook_endpoints"


def enabled_endpoints(sess: Session) -> list[WebhookEndpoint]:
    """Return the endpoints events are queued for, read once per transaction.

    These are the enabled endpoints and those disabled after failing, which hold their
    events until they are enabled again.
    """
    # One change often sends several events (a registration, then the ticket it opened).
    return per_transaction(sess, _ENDPOINTS_KEY, lambda: _load_enabled_endpoints(sess))


def any_endpoint_enabled() -> Any:
    """Return a SQL EXISTS that is true when some webhook endpoint takes events."""
    return sa.exists().where(_takes_events())


def saw_no_endpoints(sess: Session) -> None:
    """Remember for this transaction that any_endpoint_enabled was false, so none are read."""
    if has_app_context() and current_app.config.get("WEBHOOK_URLS"):
        return  # the configured endpoints are added by the first read
    per_transaction(sess, _ENDPOINTS_KEY, list)


def endpoints_changed(sess: Session) -> None:
    """Make the next enabled_endpoints call in this transaction read the table again."""
    forget_per_transaction(sess, _ENDPOINTS_KEY)


def enqueue_webhooks(sess: Session, *, event: str, payload: dict[str, Any]) -> list[OutboxMessage]:
    """Queue an event for every webhook endpoint subscribed to it, held for disabled ones."""
    out: list[OutboxMessage] = []
    now = utcnow()
    for ep in enabled_endpoints(sess):
        if ep.events and event not in ep.events:
            continue
        held = not ep.enabled
        msg = OutboxMessage(
            channel="webhook",
            event=event,
            message_id=new_webhook_id(),
            recipient=ep.url[:254],
            endpoint_id=ep.id,
            context={"type": event, "data": payload},
            # Failed with the reason, the outbox shows it, and enabling the endpoint again
            # queues it (webhooks.set_enabled); it was never tried, so it keeps no attempt.
            status="dead" if held else "pending",
            last_error=disabled_error(ep.disabled_reason) if held else None,
            next_attempt_at=now,
        )
        sess.add(msg)
        out.append(msg)
    return out


# A restart runs every job once; this keeps that from sending a second digest the same day.
DIGEST_MIN_INTERVAL = timedelta(hours=20)
DIGEST_MAX_ITEMS = 100


def _release_held(sess: Session, now: datetime) -> int:
    """Send held messages of people who switched back to single e-mails as ordinary e-mail.

    Messages held for deactivated accounts are dead-lettered instead, as enqueue_email would
    not have queued them at all.
    """
    held = [OutboxMessage.status == "held", OutboxMessage.channel == "email"]
    inactive = sa.select(User.id).where(User.is_active.is_(False))
    sess.execute(
        sa.update(OutboxMessage)
        .where(*held, OutboxMessage.recipient_user_id.in_(inactive))
        .values(status="dead", last_error="recipient account is inactive")
    )
    readers = sa.select(User.id).where(User.notify_mode == "digest")
    result = sess.execute(
        sa.update(OutboxMessage)
        .where(
            *held,
            sa.or_(
                OutboxMessage.recipient_user_id.is_(None),
                OutboxMessage.recipient_user_id.not_in(readers),
            ),
        )
        .values(status="pending", next_attempt_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# How much of each held message a digest repeats: enough to act on, not the whole e-mail.
DIGEST_ITEM_LINES = 3
DIGEST_LINE_CHARS = 300


def _digest_item(row: OutboxMessage) -> dict[str, Any]:
    ctx = row.context or {}
    said = ctx.get("lines") if isinstance(ctx.get("lines"), list) else []
    lines = [str(line)[:DIGEST_LINE_CHARS] for line in said if line][:DIGEST_ITEM_LINES]
    return {
        "subject": row.subject,
        "headline": ctx.get("headline") or row.subject,
        # The comment, decision or finding itself: a heading alone ("New comment on ticket
        # #14:") tells the reader nothing.
        "lines": lines,
        "url": ctx.get("url") or "",
        "event": row.event,
        "created_at": row.created_at.isoformat(),
    }


def digest_for(sess: Session, user: User, now: datetime) -> OutboxMessage | None:
    """Bundle one user's held e-mails into a digest message (None when nothing is due)."""
    lock_key(sess, f"digest:{user.id}")
    last = sess.execute(
        sa.select(sa.func.max(OutboxMessage.created_at)).where(
            OutboxMessage.recipient_user_id == user.id,
            OutboxMessage.template == "digest",
        )
    ).scalar_one_or_none()
    if last is not None and now - last < DIGEST_MIN_INTERVAL:
        return None
    held = claim_due(
        sess,
        OutboxMessage,
        where=[
            OutboxMessage.status == "held",
            OutboxMessage.channel == "email",
            OutboxMessage.recipient_user_id == user.id,
        ],
        order_by=[OutboxMessage.created_at, OutboxMessage.id],
        limit=10_000,
    )
    if not held:
        return None
    count = len(held)
    items = [_digest_item(row) for row in held[:DIGEST_MAX_ITEMS]]
    noun = "update" if count == 1 else "updates"
    digest = enqueue_email(
        sess,
        event="digest",
        template="digest",
        subject=f"ChannelGuard daily digest: {count} {noun}",
        context={
            "headline": f"You have {count} ChannelGuard {noun} since your last digest.",
            "lines": [],
            "url": absolute_url("/"),
            "items": items,
            "more": count - len(items),
            "count": count,
        },
        user=user,
    )
    if digest is None:
        return None
    digest.created_at = now
    for row in held:
        row.status = "sent"
        row.sent_at = now
        row.last_error = None
        row.context = {**(row.context or {}), "digest_message_id": digest.message_id}
    sess.flush()
    return digest


def send_digests(sess: Session, now: datetime) -> int:
    """Queue each digest reader's daily digest; return how many digests were queued."""
    _release_held(sess, now)
    user_ids = (
        sess.execute(
            sa.select(OutboxMessage.recipient_user_id)
            .where(
                OutboxMessage.status == "held",
                OutboxMessage.channel == "email",
                OutboxMessage.recipient_user_id.is_not(None),
            )
            .distinct()
        )
        .scalars()
        .all()
    )
    queued = 0
    for user_id in sorted(uid for uid in user_ids if uid is not None):
        user = sess.get(User, user_id)
        if user is None or not user.is_active or user.notify_mode != "digest":
            continue
        if digest_for(sess, user, now) is not None:
            queued += 1
    return queued


def retry_dead(sess: Session, outbox_id: int, now: datetime) -> bool:
    """Put a dead message back in the queue with a fresh set of attempts (the caller commits)."""
    result = sess.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == outbox_id, OutboxMessage.status == "dead")
        .values(status="pending", next_attempt_at=now, attempts=0, claimed_until=None)
    )
    return bool(getattr(result, "rowcount", 0))
