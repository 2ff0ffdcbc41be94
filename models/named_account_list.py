"""Versions of the published named-account list."""

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import in_list, ts_column, utcnow

LIST_STATUSES: tuple[str, ...] = ("draft", "published", "superseded")


class NamedAccountList(SQLModel, table=True):
    """One version of the list: draft -> published (effective from a date) -> superseded."""

    __tablename__ = "named_account_list"
    __table_args__ = (
        sa.CheckConstraint(in_list("status", LIST_STATUSES), name="status_known"),
        sa.CheckConstraint(
            "status = 'draft' OR (published_at IS NOT NULL AND effective_from IS NOT NULL)",
            name="published_has_dates",
        ),
        # Exactly one version is effective at any moment.
        sa.Index(
            "uq_named_account_list_one_published",
            "status",
            unique=True,
            sqlite_where=sa.text("status = 'published'"),
            postgresql_where=sa.text("status = 'published'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(max_length=120)
    status: str = Field(default="draft", max_length=20, index=True)
    source: str = Field(default="upload", max_length=40)
    content_hash: str = Field(max_length=64, index=True)
    account_count: int = Field(default=0)
    effective_from: date | None = Field(default=None)
    published_at: datetime | None = Field(default=None, sa_column=ts_column())
    superseded_at: datetime | None = Field(default=None, sa_column=ts_column())
    created_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
