"""Semi-annual reviews of the named-account list, one per district and list version."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import in_list, ts_column, utcnow

# A review still open when its list is superseded closes as "superseded", never signed off.
REVIEW_STATUSES: tuple[str, ...] = ("open", "signed_off", "superseded")


class DistrictReview(SQLModel, table=True):
    """A district's review of a published list with its partners."""

    __tablename__ = "district_review"
    __table_args__ = (
        sa.CheckConstraint(in_list("status", REVIEW_STATUSES), name="status_known"),
        sa.UniqueConstraint("list_id", "district", name="uq_district_review_list_district"),
        sa.CheckConstraint(
            "status != 'signed_off' OR signed_off_at IS NOT NULL", name="signed_off_has_time"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    list_id: int = Field(foreign_key="named_account_list.id", index=True)
    district: str = Field(foreign_key="district.code", max_length=40)
    status: str = Field(default="open", max_length=20, index=True)
    due_at: datetime = Field(sa_column=ts_column(nullable=False))
    notes: str = Field(default="", max_length=4000)
    signed_off_by_id: int | None = Field(default=None, foreign_key="user.id")
    signed_off_at: datetime | None = Field(default=None, sa_column=ts_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
