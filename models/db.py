"""The engine and request-scoped session, SQLite tuning, and write serialisation helpers."""

import contextlib
import contextvars
import hashlib
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

import models  # noqa: F401  registers every table on SQLModel.metadata

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

db = SQLAlchemy(metadata=SQLModel.metadata)
migrate = Migrate(render_as_batch=True, compare_type=True)

# When set, the next SQLite transaction on this context starts with BEGIN IMMEDIATE, taking the
# write lock up front so two writers are ordered instead of failing on lock upgrade.
_immediate: contextvars.ContextVar[bool] = contextvars.ContextVar("sqlite_immediate", default=False)


def _sqlite_engine_events(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # In-memory databases refuse WAL; that is harmless.
        with contextlib.suppress(Exception):
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _immediate.get() else "BEGIN")


# Seconds to wait for a PostgreSQL connection before a request fails with 503. libpq waits
# for ever by default, so a database host that drops off the network would hang every worker.
CONNECT_TIMEOUT = 5
# An open connection whose host vanishes mid-query would otherwise wait for the kernel's own
# limits (hours for an idle socket, many minutes for unacknowledged data). TCP keepalives and
# a user timeout end that wait within about a minute; a live but busy server answers both.
TCP_LIVENESS: dict[str, int] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}


def _connect_timeout(app: Flask) -> None:
    """Give PostgreSQL connections a connect timeout and TCP liveness checks, unless set."""
    uri = str(app.config.get("SQLALCHEMY_DATABASE_URI") or "")
    if not uri.startswith("postgresql"):
        return
    given = sa.engine.make_url(uri).query
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    defaults: dict[str, int] = {"connect_timeout": CONNECT_TIMEOUT, **TCP_LIVENESS}
    for name, value in defaults.items():
        if name not in given:
            connect_args.setdefault(name, value)
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def init_app(app: Flask) -> None:
    """Bind the database to the app and tune SQLite connections."""
    _connect_timeout(app)
    db.init_app(app)

    # Runs before Flask-SQLAlchemy's own teardown (teardowns run last-registered first).
    @app.teardown_appcontext
    def _end_session(_exc: BaseException | None) -> None:
        # A connection that died after the request's work was done (the database went away
        # between the last statement and the end of the request) must not turn the finished
        # answer into a bare 500: discard the connection, never back into the pool, and go on.
        try:
            db.session.remove()
        except sa.exc.DBAPIError as exc:
            log.warning("database connection lost while ending a session: %s", exc.orig)
            db.session().invalidate()
            db.session.remove()

    migrate.init_app(app, db, directory=str(MIGRATIONS_DIR))
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _sqlite_engine_events(db.engine)


def session() -> Session:
    """Return the session of the current request, command or job."""
    return db.session()  # type: ignore[no-any-return]


def set_write_intent(value: bool = True) -> contextvars.Token[bool]:
    """Mark the current context as about to write (SQLite: BEGIN IMMEDIATE)."""
    return _immediate.set(value)


@contextmanager
def write_intent() -> Iterator[None]:
    """Run a block whose transaction writes, ordering concurrent writers on SQLite."""
    token = _immediate.set(True)
    try:
        yield
    finally:
        _immediate.reset(token)


def lock_key(sess: Session, key: str) -> None:
    """Serialise work on one key until the transaction ends (advisory lock on PostgreSQL).

    On SQLite the transaction already holds the write lock (BEGIN IMMEDIATE), which orders
    every writer, so nothing more is needed there.
    """
    if sess.get_bind().dialect.name != "postgresql":
        return
    sess.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_id(key)})


def lock_columns(sess: Session, keys: Sequence[str]) -> list[Any]:
    """Return select-list expressions that take lock_key's locks, in order, within a query.

    Lets a caller lock and read facts that need no lock in one round trip. Empty on SQLite,
    where the transaction's write lock already orders writers.
    """
    if sess.get_bind().dialect.name != "postgresql":
        return []
    return [sa.func.pg_advisory_xact_lock(_lock_id(k)) for k in keys]


def _lock_id(key: str) -> int:
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def is_postgres(sess: Session) -> bool:
    """Return True when the session talks to PostgreSQL."""
    return sess.get_bind().dialect.name == "postgresql"
