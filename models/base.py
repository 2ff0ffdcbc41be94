"""Shared column types, naming convention and clock for every table."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session, scoped_session
from sqlmodel import SQLModel

T = TypeVar("T")

# Named constraints make migrations reviewable and errors readable.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Row ids are 32-bit INTEGER columns on PostgreSQL; a larger id names no row.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def per_transaction(sess: Session, key: str, build: Callable[[], T]) -> T:
    """Return build()'s value, computed once per transaction of sess and reused until it ends.

    For facts a request or job reads in several places (the active policy, the calendars, the
    webhook endpoints) that do not change under it in a way that matters within one transaction.
    """
    real = sess() if isinstance(sess, scoped_session) else sess
    cached = real.info.get(key)
    txn = real.get_transaction()
    if txn is not None and cached is not None and cached[0] is txn:
        return cached[1]  # type: ignore[no-any-return]
    value = build()
    # Building may have begun the transaction with its first statement; keep the value for it.
    txn = real.get_transaction()
    if txn is not None:
        real.info[key] = (txn, value)
    return value


def forget_per_transaction(sess: Session, key: str) -> None:
    """Drop a value per_transaction keeps, after a change that makes it stale."""
    real = sess() if isinstance(sess, scoped_session) else sess
    real.info.pop(key, None)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Store aware datetimes as UTC and always hand back aware UTC values.

    SQLite keeps no zone, PostgreSQL does; this keeps both sides of every comparison aware.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Convert to UTC before storing."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """Attach UTC to values read back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONType(sa.types.TypeDecorator[Any]):
    """JSON everywhere, stored as JSONB on PostgreSQL."""

    impl = sa.JSON()
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        """Pick JSONB on PostgreSQL."""
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


def ts_column(*, nullable: bool = True, index: bool = False, default_now: bool = False) -> Any:
    """Build a UTC timestamp column."""
    return sa.Column(
        UTCDateTime(),
        nullable=nullable,
        index=index,
        default=utcnow if default_now else None,
    )


def json_column(*, default: Any = None, nullable: bool = False) -> Any:
    """Build a JSON column (JSONB on PostgreSQL)."""
    return sa.Column(JSONType(), nullable=nullable, default=default)


def in_list(column: str, values: tuple[str, ...] | list[str]) -> str:
    """Render a CHECK expression that keeps column within a fixed vocabulary."""
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"
