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
