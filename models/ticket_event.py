"""The timeline of a ticket: every event, public or internal."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import in_list, json_column, ts_column, utcnow

EVENT_KINDS: tuple[str, ...] = (
    "opened",
    "routed",
    "assigned",
    "claimed",
    "released",
    "commented",
    "escalated",
    "sla_warning",
    "breached",
    "decided",
    "reopened",
    "notified",
    "finding_released",
)
VISIBILITIES: tuple[str, ...] = ("public", "internal")


class TicketEvent(SQLModel, table=True):
    """One entry in a ticket's timeline."""

    __tablename__ = "ticket_event"
    __table_args__ = (
        sa.CheckConstraint(in_list("kind", EVENT_KINDS), name="kind_known"),
        sa.CheckConstraint(in_list("visibility", VISIBILITIES), name="visibility_known"),
        sa.Index("ix_ticket_event_ticket_created", "ticket_id", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id")
    kind: str = Field(max_length=30)
    visibility: str = Field(default="public", max_length=10)
    actor_id: int | None = Field(default=None, foreign_key="user.id")
    body: str = Field(default="", max_length=4000)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
