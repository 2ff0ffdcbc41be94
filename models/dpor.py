"""Digital Partner of Record designations: one partner per customer and workload."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import ts_column, utcnow


class DporDesignation(SQLModel, table=True):
    """The customer's designated partner of record for a workload (earns incentives)."""

    __tablename__ = "dpor_designation"
    __table_args__ = (
        sa.Index(
            "uq_dpor_active_customer_workload",
            "customer_key",
            "workload",
            unique=True,
            sqlite_where=sa.text("active"),
            postgresql_where=sa.text("active"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    customer_key: str = Field(max_length=300)
    customer_name: str = Field(max_length=300)
    workload: str = Field(max_length=30)
    partner_id: int = Field(foreign_key="partner.id", index=True)
    registration_id: int | None = Field(default=None, foreign_key="registration.id")
    active: bool = Field(default=True)
    designated_by_id: int | None = Field(default=None, foreign_key="user.id")
    designated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
    ended_at: datetime | None = Field(default=None, sa_column=ts_column())
