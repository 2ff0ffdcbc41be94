"""Migrations: one head, and upgrade on an empty database yields exactly the models' schema."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlmodel import SQLModel

from app import create_app
from models.db import MIGRATIONS_DIR, db
from tests.dbutil import create_pg_database, drop_pg_database, is_postgres_url


def test_single_head() -> None:
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    heads = ScriptDirectory.from_config(cfg).get_heads()
    assert len(heads) == 1, heads


@pytest.fixture()
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """Create an empty database of the kind this run uses."""
    base = os.environ.get("TEST_DATABASE_URL")
    if is_postgres_url(base):
        assert base is not None
        url = create_pg_database(base, prefix="cg_migr")
        yield url
        drop_pg_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'migr.db'}"


def test_upgrade_on_empty_database_matches_models(empty_database_url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x"})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "render_as_batch": True}
            )
            diff = compare_metadata(ctx, SQLModel.metadata)
            tables = set(sa.inspect(conn).get_table_names())
        db.engine.dispose()
    assert diff == []
    assert set(SQLModel.metadata.tables) <= tables


def _storage_definitions(url: str) -> dict[str, str]:
    """Return index name -> definition, and on PostgreSQL table -> storage options."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                rows = list(
                    conn.execute(
                        sa.text(
                            "SELECT indexname, indexdef FROM pg_indexes "
                            "WHERE schemaname = 'public' AND tablename != 'alembic_version' "
                            "UNION ALL "
                            "SELECT 'table ' || relname, array_to_string(reloptions, ',') "
                            "FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                            "AND relkind = 'r' AND reloptions IS NOT NULL"
                        )
                    )
                )
            else:
                rows = list(
                    conn.execute(
                        sa.text(
                            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                            "AND sql IS NOT NULL AND tbl_name != 'alembic_version'"
                        )
                    )
                )
    finally:
        engine.dispose()
    # Whitespace and identifier quoting differ between the two ways of creating an index.
    return {name: " ".join(sql.replace('"', "").split()) for name, sql in rows}


def test_upgrade_yields_the_models_index_predicates_and_storage_options(
    empty_database_url: str, tmp_path: Path
) -> None:
    # Autogenerate compares index columns only; partial-index predicates and storage options
    # (which the SLA sweep's cost depends on) are compared here, against create_all.
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    base = os.environ.get("TEST_DATABASE_URL")
    if is_postgres_url(base):
        assert base is not None
        reference = create_pg_database(base, prefix="cg_models")
    else:
        reference = f"sqlite:///{tmp_path / 'models.db'}"
    try:
        engine = sa.create_engine(reference)
        SQLModel.metadata.create_all(engine)
        engine.dispose()
        migrated = _storage_definitions(empty_database_url)
        declared = _storage_definitions(reference)
    finally:
        if is_postgres_url(reference):
            drop_pg_database(reference)
    assert migrated == declared
    assert "WHERE" in migrated["ix_ticket_open_due"]
    assert "WHERE" in migrated["ix_ticket_other_partner_id"]
    if is_postgres_url(base):
        assert "deduplicate_items=off" in migrated["ix_ticket_partner_id"]
        assert migrated["table ticket"] == "fillfactor=75"
