"""The notification outbox: e-mail and webhook messages written in the caller's transaction.

Every message is a row; a scheduler job delivers it after commit, so a rolled-back change
sends nothing and a crash loses nothing.

Context contract for e-mail templates (templates/email/<template>.txt and .html): every context
carries ``headline`` (one sentence), ``lines`` (list of plain sentences), ``url`` (absolute link
to the page to act on, may be empty) and, where they apply, ``ticket_id``, ``registration_id``,
``customer_name``, ``rule``, ``level``, ``resolution``, ``due_at`` (ISO string).
"""

import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from models import OutboxMessage, User, WebhookEndpoint, utcnow

EMAIL_TEMPLATES: tuple[str, ...] = (
    "registration_received",
    "conflict_opened",
    "ticket_assigned",
    "sla_warning",
    "ticket_escalated",
    "ticket_decided",
    "exception_routed",
    "expiry_reminder",
    "list_published",
    "district_review_opened",
    "digest",
)


def new_message_id() -> str:
    """Return a globally unique, stable Message-ID for one outbox row."""
    return f"<{uuid.uuid4().hex}@channelguard>"


def absolute_url(path: str) -> str:
    """Turn an app path into an absolute link for e-mail."""
    base = current_app.config.get("BASE_URL", "") if has_app_context() else ""
    return f"{base.rstrip('/')}{path}" if path else ""


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
    if template not in EMAIL_TEMPLATES:
        raise ValueError(f"unknown e-mail template {template!r}")
    address = user.email if user is not None else (email or "").strip().lower()
    if not address:
        return None
    if user is None:
        # A known address gets the user's preferences even when only the e-mail was given.
        user = sess.execute(sa.select(User).where(User.email == address)).scalar_one_or_none()
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
) -> list[OutboxMessage]:
    """Queue the same e-mail to several recipients, once per address."""
    seen: set[str] = set()
    out: list[OutboxMessage] = []
    for r in recipients:
        address = (r.email if isinstance(r, User) else r or "").strip().lower()
        if not address or address in seen:
            continue
        seen.add(address)
        kwargs: dict[str, Any] = {"user": r} if isinstance(r, User) else {"email": address}
        msg = enqueue_email(
            sess, event=event, template=template, subject=subject, context=context, **kwargs
        )
        if msg is not None:
            out.append(msg)
    return out


def enqueue_webhooks(sess: Session, *, event: str, payload: dict[str, Any]) -> list[OutboxMessage]:
    """Queue an event for every enabled webhook endpoint subscribed to it."""
    endpoints = sess.execute(
        sa.select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
    ).scalars()
    out: list[OutboxMessage] = []
    for ep in endpoints:
        if ep.events and event not in ep.events:
            continue
        msg = OutboxMessage(
            channel="webhook",
            event=event,
            message_id=f"msg_{uuid.uuid4().hex}",
            recipient=ep.url[:254],
            endpoint_id=ep.id,
            context={"type": event, "data": payload},
            next_attempt_at=utcnow(),
        )
        sess.add(msg)
        out.append(msg)
    return out
