"""The notification outbox: e-mail and webhook messages written with the change that caused them."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import in_list, json_column, ts_column, utcnow

CHANNELS: tuple[str, ...] = ("email", "webhook")
# "fanout" rows stand for many webhook messages until the webhook job expands them
# (escalation.fanout).
OUTBOX_STATUSES: tuple[str, ...] = ("pending", "held", "sending", "sent", "dead", "fanout")


class OutboxMessage(SQLModel, table=True):
    """One message to deliver; 'held' messages wait for the recipient's daily digest."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        sa.CheckConstraint(in_list("channel", CHANNELS), name="channel_known"),
        sa.CheckConstraint(in_list("status", OUTBOX_STATUSES), name="status_known"),
        sa.CheckConstraint(
            "channel != 'webhook' OR endpoint_id IS NOT NULL", name="webhook_has_endpoint"
        ),
        sa.Index("ix_outbox_message_due", "status", "next_attempt_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(default="email", max_length=10)
    event: str = Field(max_length=60)
    # Stable across retries so receivers can de-duplicate (Message-ID / webhook-id).
    message_id: str = Field(max_length=200, unique=True)
    recipient: str = Field(default="", max_length=254)
    recipient_user_id: int | None = Field(default=None, foreign_key="user.id", index=True)
    endpoint_id: int | None = Field(default=None, foreign_key="webhook_endpoint.id")
    subject: str = Field(default="", max_length=300)
    template: str = Field(default="", max_length=100)
    context: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    status: str = Field(default="pending", max_length=10)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
    claimed_until: datetime | None = Field(default=None, sa_column=ts_column())
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=ts_column())
