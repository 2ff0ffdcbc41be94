"""People who sign in: partners, MCS sellers, reviewers and admins."""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import in_list, json_column, ts_column, utcnow

ROLES: tuple[str, ...] = ("partner", "mcs", "reviewer", "admin")
NOTIFY_MODES: tuple[str, ...] = ("immediate", "digest")


class User(SQLModel, table=True):
    """A user account; the session id includes session_version so logout revokes cookies."""

    __tablename__ = "user"
    __table_args__ = (
        sa.CheckConstraint(in_list("role", ROLES), name="role_known"),
        sa.CheckConstraint("role != 'partner' OR partner_id IS NOT NULL", name="partner_has_org"),
        sa.CheckConstraint(
            "role != 'reviewer' OR (level IS NOT NULL AND level IN (1, 2, 3))",
            name="reviewer_has_level",
        ),
        sa.CheckConstraint(in_list("notify_mode", NOTIFY_MODES), name="notify_mode_known"),
    )

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(default="", max_length=200)
    password_hash: str = Field(max_length=256)
    role: str = Field(max_length=20, index=True)
    partner_id: int | None = Field(default=None, foreign_key="partner.id", index=True)
    level: int | None = Field(default=None)
    districts: list[Any] = Field(default_factory=list, sa_column=json_column(default=list))
    region: str | None = Field(default=None, max_length=40)
    is_active: bool = Field(default=True)
    session_version: int = Field(default=1)
    notify_mode: str = Field(default="immediate", max_length=20)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
    last_login_at: datetime | None = Field(default=None, sa_column=ts_column())

    # Flask-Login protocol, kept here so every view sees the same rules.
    @property
    def is_authenticated(self) -> bool:
        """Return True: a loaded user is authenticated."""
        return True

    @property
    def is_anonymous(self) -> bool:
        """Return False: loaded users are never anonymous."""
        return False

    def get_id(self) -> str:
        """Return the session identity, which changes when sessions are revoked."""
        return f"{self.id}:{self.session_version}"

    @property
    def display_name(self) -> str:
        """Return the name to show, falling back to the e-mail address."""
        return self.name or self.email
