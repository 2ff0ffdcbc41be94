"""Shared fixtures: one migrated database per run (SQLite or PostgreSQL), cleaned per test."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import settings
from sqlmodel import SQLModel

from tests.dbutil import create_pg_database, drop_pg_database, is_postgres_url

os.environ.setdefault("APP_ENV", "testing")

# Timings on a shared 2-core machine vary; a slow example is not a failing one.
settings.register_profile("default", deadline=None)
settings.load_profile("default")


def pytest_report_header(config: pytest.Config) -> str:
    """Say which database the run uses."""
    url = os.environ.get("TEST_DATABASE_URL")
    return f"database: {'PostgreSQL' if is_postgres_url(url) else 'SQLite (file)'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Create the run's database and drop it at the end."""
    base = os.environ.get("TEST_DATABASE_URL")
    if is_postgres_url(base):
        assert base is not None
        try:
            url = create_pg_database(base)
        except Exception as exc:  # pragma: no cover - environment problem
            if os.environ.get("REQUIRE_POSTGRES"):
                pytest.exit(f"PostgreSQL required but unreachable: {exc}", returncode=3)
            raise
        yield url
        drop_pg_database(url)
    else:
        path: Path = tmp_path_factory.mktemp("db") / "test.db"
        yield f"sqlite:///{path}"


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[Flask]:
    """Build one application for the run, with the schema made by the migrations."""
    from flask_migrate import upgrade

    from app import create_app

    application = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "test-secret-key",
            "SESSION_COOKIE_SECURE": False,
            "SCHEDULER_ENABLED": False,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": 1,
            "BASE_URL": "http://localhost",
        }
    )
    with application.app_context():
        upgrade()
    yield application
    from models.db import db

    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _truncate_all(app: Flask) -> None:
    from models.db import db

    with app.app_context():
        db.session.remove()
        tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            # DELETE beats TRUNCATE by far on tables this small; children go first and the
            # partner/user cycle is broken by ON DELETE SET NULL.
            for t in tables:
                conn.execute(sa.text(f'DELETE FROM "{t}"'))


@pytest.fixture(autouse=True)
def clean_db(request: pytest.FixtureRequest) -> Iterator[None]:
    """Give every test that uses the app an empty database."""
    yield
    if "app" in request.fixturenames:
        app: Flask = request.getfixturevalue("app")
        from web.security import limiter

        limiter.reset()
        _truncate_all(app)


@pytest.fixture()
def ctx(app: Flask) -> Iterator[Flask]:
    """Run the test inside an application context."""
    from models.db import db

    with app.app_context():
        yield app
        db.session.remove()


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    """Return a test client."""
    return app.test_client()
