"""Webhook fan-out: one outbox row that stands for the same event on many tickets.

A sweep that escalates a hundred thousand tickets would otherwise write a hundred thousand
webhook rows, with their index entries and foreign-key checks, inside its own transaction. It
writes instead, per subscribed endpoint, one row with status ``fanout`` whose context groups
the tickets by the payload they share::

    {"type": "ticket.escalated",
     "groups": [{"data": {"level": 2, "district": "northeast", ...}, "ticket_ids": [4, 9]}]}

Before it delivers anything, the webhook job turns each fan-out row into ordinary pending
messages, one per ticket, with ``ticket_id`` added to the shared data, and deletes the fan-out
row in the same transaction; a crash therefore repeats the fan-out rather than losing or
doubling messages. A message's webhook-id is the fan-out row's id followed by the ticket id,
so it is stable, and from then on each message has its own retries and dead letter.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from escalation.claims import claim_due
from escalation.notify import new_webhook_id
from models import OutboxMessage, WebhookEndpoint

FANOUT = "fanout"
# Fan-out rows turned into messages per transaction; each may stand for many messages.
EXPAND_BATCH = 5


def payload_groups(items: Iterable[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Group (ticket id, shared payload) pairs into fan-out groups, ids ascending."""
    ids: dict[tuple[tuple[str, Any], ...], list[int]] = defaultdict(list)
    for ticket_id, data in items:
        ids[tuple(sorted(data.items()))].append(ticket_id)
    return [{"data": dict(key), "ticket_ids": sorted(group)} for key, group in ids.items()]


def fanout_rows(
    endpoints: Sequence[WebhookEndpoint], event: str, groups: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """Return one fan-out outbox row per endpoint for the grouped payloads (none if empty)."""
    if not groups:
        return []
    return [
        {
            "channel": "webhook",
            "event": event,
            "message_id": new_webhook_id(),
            "recipient": ep.url[:254],
            "endpoint_id": ep.id,
            "subject": "",
            "template": "",
            "context": {"type": event, "groups": groups},
            "status": FANOUT,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for ep in endpoints
    ]


def messages_of(row: OutboxMessage) -> list[dict[str, Any]]:
    """Return the pending message rows a fan-out row stands for."""
    ctx = row.context or {}
    event = ctx.get("type") or row.event
    out: list[dict[str, Any]] = []
    for group in ctx.get("groups") or []:
        shared = dict(group.get("data") or {})
        for ticket_id in group.get("ticket_ids") or []:
            out.append(
                {
                    "channel": "webhook",
                    "event": row.event,
                    "message_id": f"{row.message_id}_{ticket_id}",
                    "recipient": row.recipient,
                    "endpoint_id": row.endpoint_id,
                    "subject": "",
                    "template": "",
                    "context": {"type": event, "data": {"ticket_id": ticket_id, **shared}},
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": row.next_attempt_at,
                    "created_at": row.created_at,
                }
            )
    return out


def expand_fanouts(sess: Session, now: datetime, *, limit: int = EXPAND_BATCH) -> int:
    """Turn due fan-out rows into one pending message per ticket; return the messages made.

    Rows another worker is expanding are skipped; the caller commits.
    """
    rows = claim_due(
        sess,
        OutboxMessage,
        where=[OutboxMessage.status == FANOUT, OutboxMessage.next_attempt_at <= now],
        order_by=[OutboxMessage.id],
        limit=limit,
    )
    made = 0
    for row in rows:
        messages = messages_of(row)
        if messages:
            sess.execute(sa.insert(OutboxMessage), messages)
        sess.delete(row)
        made += len(messages)
    sess.flush()
    return made
