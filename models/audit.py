"""Audit trail of decisions and administrative changes."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import json_column, ts_column, utcnow


class AuditEvent(SQLModel, table=True):
    """Who did what to which object, and when."""

    __tablename__ = "audit_event"
    __table_args__ = (sa.Index("ix_audit_event_object", "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    actor_id: int | None = Field(default=None, foreign_key="user.id")
    action: str = Field(max_length=60, index=True)
    object_type: str = Field(max_length=40)
    object_id: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
