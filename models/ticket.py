"""Escalation tickets: conflicts and exceptions with a level, an owner and an SLA."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import in_list, ts_column, utcnow

TICKET_TYPES: tuple[str, ...] = ("conflict", "exception")
TICKET_STATUSES: tuple[str, ...] = ("open", "in_review", "decided")
OPEN_PREDICATE = "status IN ('open', 'in_review')"
NO_DEDUP = {"deduplicate_items": "off"}
TICKET_FILLFACTOR = 75
RESOLUTIONS: tuple[str, ...] = (
    "partner_leads",
    "mcs_leads",
    "joint_engagement",
    "rejected",
    "exception_granted",
    "exception_denied",
    "no_conflict",
)


class Ticket(SQLModel, table=True):
    """A conflict or exception being worked by reviewers."""

    __tablename__ = "ticket"
    __table_args__ = (
        sa.CheckConstraint(in_list("type", TICKET_TYPES), name="type_known"),
        sa.CheckConstraint(in_list("status", TICKET_STATUSES), name="status_known"),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name="level_range"),
        sa.CheckConstraint(
            "resolution IS NULL OR " + in_list("resolution", RESOLUTIONS), name="resolution_known"
        ),
        sa.CheckConstraint(
            "status != 'decided' OR (resolution IS NOT NULL AND rationale IS NOT NULL"
            " AND decided_at IS NOT NULL)",
            name="decided_has_resolution",
        ),
        sa.CheckConstraint(
            "status != 'in_review' OR owner_id IS NOT NULL", name="in_review_has_owner"
        ),
        # One open ticket per registration, rule and second registration: re-checks never
        # duplicate a conflict, and an MCS engagement gets one ticket per partner registration.
        sa.Index(
            "uq_ticket_open_per_pair",
            "registration_id",
            "rule",
            sa.text("coalesce(other_registration_id, 0)"),
            unique=True,
            sqlite_where=sa.text("status != 'decided'"),
            postgresql_where=sa.text("status != 'decided'"),
        ),
        # The queue reads open tickets by due time per district, and across every district
        # from ix_ticket_open_due, which holds the open tickets only (the decided ones are
        # the bulk of the table and are never read by due time); the SLA jobs read it too.
        sa.Index("ix_ticket_district_status_due", "district", "status", "sla_due_at", "id"),
        sa.Index(
            "ix_ticket_open_due",
            "sla_due_at",
            "id",
            sqlite_where=sa.text(OPEN_PREDICATE),
            postgresql_where=sa.text(OPEN_PREDICATE),
        ),
        sa.Index("ix_ticket_owner_status", "owner_id", "status"),
        # Many tickets share a registration or partner, and a ticket update that is not HOT
        # adds an entry with an unchanged key to each of these: deduplication would rewrite
        # a posting list on every such insert, which dominates a sweep over many tickets.
        sa.Index("ix_ticket_registration_id", "registration_id", postgresql_with=NO_DEDUP),
        sa.Index("ix_ticket_partner_id", "partner_id", postgresql_with=NO_DEDUP),
        # Most tickets have no second partner; leaving them out keeps updates off the index.
        sa.Index(
            "ix_ticket_other_partner_id",
            "other_partner_id",
            sqlite_where=sa.text("other_partner_id IS NOT NULL"),
            postgresql_where=sa.text("other_partner_id IS NOT NULL"),
            postgresql_with=NO_DEDUP,
        ),
        # A registration's page, a decision's "other open tickets" count and an MCS seller's
        # scope look tickets up by either registration; only overlap tickets have a second
        # one, so the index holds just those.
        sa.Index(
            "ix_ticket_other_registration_id",
            "other_registration_id",
            sqlite_where=sa.text("other_registration_id IS NOT NULL"),
            postgresql_where=sa.text("other_registration_id IS NOT NULL"),
            postgresql_with=NO_DEDUP,
        ),
        # Room on each page for new row versions: tickets are updated many times (claimed,
        # assigned, warned, escalated, decided), and a version that fits on its page is cheaper
        # to write and, when no indexed column changes, needs no index entries at all (HOT).
        {"postgresql_with": {"fillfactor": TICKET_FILLFACTOR}},
    )

    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(default="conflict", max_length=20)
    rule: str = Field(max_length=40)
    status: str = Field(default="open", max_length=20)
    level: int = Field(default=1)
    district: str | None = Field(default=None, max_length=40)
    region: str | None = Field(default=None, max_length=40)
    owner_id: int | None = Field(default=None, foreign_key="user.id")
    claimed_at: datetime | None = Field(default=None, sa_column=ts_column())
    registration_id: int = Field(foreign_key="registration.id")
    other_registration_id: int | None = Field(default=None, foreign_key="registration.id")
    partner_id: int | None = Field(default=None, foreign_key="partner.id")
    other_partner_id: int | None = Field(default=None, foreign_key="partner.id")
    mcs_owner_email: str | None = Field(default=None, max_length=254)
    title: str = Field(default="", max_length=300)
    list_version_id: int | None = Field(default=None, foreign_key="named_account_list.id")
    policy_version_id: int | None = Field(default=None, foreign_key="policy_version.id")
    opened_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
    sla_due_at: datetime | None = Field(default=None, sa_column=ts_column())
    # The level whose SLA warning was sent, so each warning goes out once.
    sla_warned_level: int | None = Field(default=None)
    escalated_at: datetime | None = Field(default=None, sa_column=ts_column())
    breached: bool = Field(default=False)
    routed_at: datetime | None = Field(default=None, sa_column=ts_column())
    resolution: str | None = Field(default=None, max_length=30)
    rationale: str | None = Field(default=None, max_length=4000)
    decided_by_id: int | None = Field(default=None, foreign_key="user.id")
    decided_at: datetime | None = Field(default=None, sa_column=ts_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
