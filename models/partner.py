"""Partner organisations: tier by points, competencies, technical coordinator."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import json_column, ts_column, utcnow

CERTIFIED_POINTS = 50
GOLD_POINTS = 120
TIERS: tuple[str, ...] = ("registered", "certified", "gold")
COMPETENCIES: tuple[str, ...] = (
    "advanced_infrastructure",
    "business_intelligence",
    "data_management",
    "information_worker",
    "integrated_business",
    "isv_software",
    "learning",
    "licensing",
    "mobility",
    "networking",
    "security",
)


def tier_for_points(points: int) -> str:
    """Return the tier a partner's points earn (50 = Certified, 120 = Gold Certified)."""
    if points >= GOLD_POINTS:
        return "gold"
    if points >= CERTIFIED_POINTS:
        return "certified"
    return "registered"


def tier_expression(points: Any) -> Any:
    """Return a SQL CASE that computes the tier from a points column, for reports."""
    return sa.case(
        (points >= GOLD_POINTS, "gold"),
        (points >= CERTIFIED_POINTS, "certified"),
        else_="registered",
    )


TIER_LABELS = {"registered": "Registered", "certified": "Certified", "gold": "Gold Certified"}


class Partner(SQLModel, table=True):
    """A partner organisation of the program."""

    __tablename__ = "partner"
    __table_args__ = (sa.CheckConstraint("points >= 0", name="points_non_negative"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)
    points: int = Field(default=0)
    competencies: list[Any] = Field(default_factory=list, sa_column=json_column(default=list))
    district: str | None = Field(default=None, foreign_key="district.code", index=True)
    # Gold partners' escalations are owned by this named coordinator until resolved.
    technical_coordinator_id: int | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("user.id", use_alter=True, ondelete="SET NULL"), nullable=True
        ),
    )
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))

    @property
    def tier(self) -> str:
        """Return the tier the points earn."""
        return tier_for_points(self.points)

    @property
    def tier_label(self) -> str:
        """Return the tier's display name."""
        return TIER_LABELS[self.tier]
