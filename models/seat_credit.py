"""Seat credits that secondary partners earn toward competencies."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import in_list, ts_column, utcnow

EVIDENCE_SOURCES: tuple[str, ...] = ("ea_open", "csp", "fasttrack", "delegated_admin")


class SeatCredit(SQLModel, table=True):
    """Seats credited to a partner on a customer's workload, with the evidence source."""

    __tablename__ = "seat_credit"
    __table_args__ = (
        sa.CheckConstraint(in_list("source", EVIDENCE_SOURCES), name="source_known"),
        sa.CheckConstraint("seats > 0", name="seats_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    customer_key: str = Field(max_length=300)
    customer_name: str = Field(max_length=300)
    workload: str = Field(max_length=30)
    seats: int
    source: str = Field(max_length=20)
    evidence_ref: str = Field(default="", max_length=200)
    competency: str | None = Field(default=None, max_length=40)
    recorded_by_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
