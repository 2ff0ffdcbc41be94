"""Bearer tokens for the JSON API, stored as hashes."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import ts_column, utcnow


class ApiToken(SQLModel, table=True):
    """A personal API token; only its SHA-256 is kept."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    name: str = Field(default="", max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=ts_column(nullable=False))
    last_used_at: datetime | None = Field(default=None, sa_column=ts_column())
    revoked_at: datetime | None = Field(default=None, sa_column=ts_column())
