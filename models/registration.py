"""Deal registrations by partners and engagements registered by the direct arm."""

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from conflict.types import MATURITY_LEVELS, PARTIES, SOLUTION_STACKS
from models.base import in_list, json_column, ts_column, utcnow

REG_STATUSES: tuple[str, ...] = (
    "submitted",
    "approved",
    "in_conflict",
    "in_exception_review",
    "rejected",
    "expired",
    "withdrawn",
)
OPEN_STATUSES: tuple[str, ...] = ("submitted", "approved", "in_conflict", "in_exception_review")
# Registrations that count as someone's engagement on a customer for the overlap rules.
ACTIVE_STATUSES = OPEN_STATUSES


class Registration(SQLModel, table=True):
    """A registration and the decision it received."""

    __tablename__ = "registration"
    __table_args__ = (
        sa.CheckConstraint(in_list("status", REG_STATUSES), name="status_known"),
        sa.CheckConstraint(in_list("party", PARTIES), name="party_known"),
        sa.CheckConstraint("party != 'partner' OR partner_id IS NOT NULL", name="partner_set"),
        sa.CheckConstraint(
            "solution_stack IS NULL OR " + in_list("solution_stack", SOLUTION_STACKS),
            name="stack_known",
        ),
        sa.CheckConstraint(
            "infrastructure_maturity IS NULL OR "
            + in_list("infrastructure_maturity", MATURITY_LEVELS),
            name="maturity_known",
        ),
        sa.CheckConstraint("pc_count IS NULL OR pc_count >= 0", name="pc_count_non_negative"),
        sa.CheckConstraint(
            "estimated_value IS NULL OR estimated_value >= 0", name="value_non_negative"
        ),
        sa.CheckConstraint(
            "status != 'withdrawn' OR withdrawn_reason IS NOT NULL", name="withdrawn_has_reason"
        ),
        sa.CheckConstraint(
            "status = 'submitted' OR list_version_id IS NOT NULL OR policy_version_id IS NOT NULL",
            name="decided_has_versions",
        ),
        sa.UniqueConstraint(
            "submitted_by_id", "idempotency_key", name="uq_registration_idempotency"
        ),
        sa.Index("ix_registration_customer_status", "customer_key", "status"),
        # Engagements on a customer are found by name key or by web domain.
        sa.Index("ix_registration_domain_status", "customer_domain", "status"),
        sa.Index("ix_registration_partner_submitted", "partner_id", "submitted_at", "id"),
        sa.Index("ix_registration_status_expires", "status", "expires_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    party: str = Field(default="partner", max_length=10)
    partner_id: int | None = Field(default=None, foreign_key="partner.id")
    submitted_by_id: int = Field(foreign_key="user.id", index=True)
    customer_name: str = Field(max_length=300)
    customer_domain: str | None = Field(default=None, max_length=253)
    customer_key: str = Field(max_length=300)
    district: str | None = Field(default=None, max_length=40, index=True)
    country: str | None = Field(default=None, max_length=2)
    pc_count: int | None = Field(default=None)
    workloads: list[Any] = Field(default_factory=list, sa_column=json_column(default=list))
    solution_stack: str | None = Field(default=None, max_length=30)
    dotnet_early_adoption: bool = Field(default=False)
    estimated_value: int | None = Field(default=None)
    expected_close_date: date | None = Field(default=None)
    infrastructure_maturity: str | None = Field(default=None, max_length=20)
    notes: str = Field(default="", max_length=4000)
    status: str = Field(default="submitted", max_length=30)
    matched_account_id: int | None = Field(default=None, foreign_key="named_account.id")
    list_version_id: int | None = Field(default=None, foreign_key="named_account_list.id")
    policy_version_id: int | None = Field(default=None, foreign_key="policy_version.id")
    idempotency_key: str | None = Field(default=None, max_length=128)
    submitted_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
    decided_at: datetime | None = Field(default=None, sa_column=ts_column())
    expires_at: datetime | None = Field(default=None, sa_column=ts_column())
    reminder_sent_at: datetime | None = Field(default=None, sa_column=ts_column())
    extension_requested_at: datetime | None = Field(default=None, sa_column=ts_column())
    extension_reason: str | None = Field(default=None, max_length=2000)
    withdrawn_at: datetime | None = Field(default=None, sa_column=ts_column())
    withdrawn_reason: str | None = Field(default=None, max_length=2000)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))

    @property
    def is_open(self) -> bool:
        """Return True while the registration can still change state."""
        return self.status in OPEN_STATUSES
