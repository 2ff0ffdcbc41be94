"""Login attempts, kept in the database so throttling holds across worker processes."""

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from models.base import ts_column, utcnow


class LoginAttempt(SQLModel, table=True):
    """One failed or successful sign-in attempt."""

    __tablename__ = "login_attempt"
    __table_args__ = (sa.Index("ix_login_attempt_key_time", "key", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=300)
    success: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
