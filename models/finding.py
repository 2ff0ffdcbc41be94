"""Findings of the conflict engine, with the evidence behind each."""

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from models.base import json_column, ts_column, utcnow


class ConflictFinding(SQLModel, table=True):
    """One rule's verdict on one registration, under one list and policy version."""

    __tablename__ = "conflict_finding"

    id: int | None = Field(default=None, primary_key=True)
    registration_id: int = Field(foreign_key="registration.id", index=True)
    rule: str = Field(max_length=40, index=True)
    severity: str = Field(max_length=20)
    message: str = Field(max_length=2000)
    named_account_id: int | None = Field(default=None, foreign_key="named_account.id")
    account_ref: str | None = Field(default=None, max_length=64)
    account_name: str | None = Field(default=None, max_length=300)
    method: str | None = Field(default=None, max_length=20)
    score: float | None = Field(default=None)
    other_registration_id: int | None = Field(default=None, foreign_key="registration.id")
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=json_column(default=dict))
    list_version_id: int | None = Field(default=None, foreign_key="named_account_list.id")
    policy_version_id: int | None = Field(default=None, foreign_key="policy_version.id")
    active: bool = Field(default=True)
    released_at: datetime | None = Field(default=None, sa_column=ts_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
