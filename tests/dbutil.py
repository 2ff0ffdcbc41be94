"""Create and drop throw-away databases for a test run."""

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa
from flask import Flask
from psycopg import sql


def admin_conninfo(url: str) -> tuple[str, str]:
    """Return a libpq conninfo for the server of url and the base database name."""
    parsed = sa.engine.make_url(url)
    info = f"host={parsed.host or '127.0.0.1'} port={parsed.port or 5432} "
    info += f"user={parsed.username or 'postgres'} dbname={parsed.database or 'postgres'}"
    if parsed.password:
        info += f" password={parsed.password}"
    return info, parsed.database or "postgres"


def create_pg_database(base_url: str, prefix: str = "cg_test") -> str:
    """Create a fresh PostgreSQL database next to base_url and return its URL."""
    info, _ = admin_conninfo(base_url)
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(info, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return sa.engine.make_url(base_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    """Drop a database made by create_pg_database, ending its connections first."""
    parsed = sa.engine.make_url(url)
    info, _ = admin_conninfo(parsed.set(database="postgres").render_as_string(hide_password=False))
    with psycopg.connect(info, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (parsed.database,),
        )
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(parsed.database or ""))
        )


def is_postgres_url(url: str | None) -> bool:
    """Return True for a PostgreSQL URL."""
    return bool(url) and url.startswith("postgresql")  # type: ignore[union-attr]


@contextmanager
def separate_app(
    build: Callable[[dict[str, Any]], Flask], config: dict[str, Any]
) -> Iterator[Flask]:
    """Yield an app built apart from the shared one, releasing its connections afterwards."""
    from models.db import db

    other = build(config)
    try:
        yield other
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
