"""Webhook endpoints that receive signed event payloads."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import json_column, ts_column, utcnow

# Every event type a webhook is sent for, and so the only ones an endpoint may subscribe to.
WEBHOOK_EVENTS: tuple[str, ...] = (
    "registration.submitted",
    "registration.expired",
    "ticket.opened",
    "ticket.commented",
    "ticket.escalated",
    "ticket.decided",
    "ticket.reopened",
    "named_account_list.published",
)


class WebhookEndpoint(SQLModel, table=True):
    """A receiver of event payloads, signed with its own secret."""

    __tablename__ = "webhook_endpoint"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    # The signing secret must be usable to sign, so it is stored, not hashed.
    secret: str = Field(max_length=200)
    events: list[Any] = Field(default_factory=list, sa_column=json_column(default=list))
    enabled: bool = Field(default=True)
    allow_private: bool = Field(default=False)
    consecutive_failures: int = Field(default=0)
    # When the current run of failures began. None with failures counted means the run began
    # before this was recorded.
    failing_since: datetime | None = Field(default=None, sa_column=ts_column())
    disabled_reason: str | None = Field(default=None, max_length=500)
    # Set when the endpoint was disabled after failing: its events are still queued, held
    # until it is enabled again. An endpoint disabled on purpose takes no events.
    hold_while_disabled: bool = Field(
        default=False,
        sa_column=sa.Column(sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
