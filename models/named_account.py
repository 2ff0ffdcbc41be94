"""Accounts of one named-account list version."""

from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import in_list, json_column

SEGMENTS: tuple[str, ...] = ("global", "strategic", "major", "corporate")


class NamedAccount(SQLModel, table=True):
    """An account reserved for the direct arm in one list version."""

    __tablename__ = "named_account"
    __table_args__ = (
        sa.UniqueConstraint("list_id", "account_id", name="uq_named_account_list_account"),
        sa.CheckConstraint(
            "segment IS NULL OR " + in_list("segment", SEGMENTS), name="segment_known"
        ),
        sa.CheckConstraint("pc_count IS NULL OR pc_count >= 0", name="pc_count_non_negative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="named_account_list.id", index=True)
    account_id: str = Field(max_length=64)
    name: str = Field(max_length=300)
    domain: str | None = Field(default=None, max_length=253)
    aliases: list[Any] = Field(default_factory=list, sa_column=json_column(default=list))
    segment: str | None = Field(default=None, max_length=20)
    district: str | None = Field(default=None, max_length=40)
    pc_count: int | None = Field(default=None)
    mcs_owner_email: str | None = Field(default=None, max_length=254)
