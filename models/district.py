"""Sales districts, the regions they roll up to, and their business calendars."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from models.base import json_column


class District(SQLModel, table=True):
    """A district (level-1 escalation scope) inside a region (level 2)."""

    __tablename__ = "district"

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=120)
    region: str = Field(max_length=40, index=True)
    timezone: str = Field(default="America/New_York", max_length=64)
    # ISO dates of district-specific holidays on top of the policy calendar.
    holidays: list[Any] = Field(default_factory=list, sa_column=json_column(default=list))


def district_names(sess: Session) -> dict[str, str]:
    """Return every district's name by its code."""
    rows = sess.execute(sa.select(District.code, District.name))
    return {code: name for code, name in rows}
