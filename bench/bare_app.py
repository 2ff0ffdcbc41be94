"""A bare Flask app with one endpoint that inserts one row: the http benchmark's baseline.

Serve it the way the real app is served, e.g.
``DATABASE_URL=postgresql+psycopg://... gunicorn -w 2 'bench.bare_app:create_app()'``, after
making its table with ``create_table(url)`` (the benchmark does both). ``POST /rows`` takes any
JSON object, stores its ``customer_name`` and the whole body in one row with SQLAlchemy core,
and answers ``{"id": N}`` with 201: request parsing, one pooled connection, one INSERT ... RETURNING
and one commit, which is the floor any endpoint that stores something stands on.
"""

import os
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask, jsonify, request
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()
rows = sa.Table(
    "bench_bare_row",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("customer_name", sa.String(300), nullable=False),
    sa.Column("body", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


def create_table(url: str) -> None:
    """Create the baseline's table in the database at url."""
    engine = sa.create_engine(url)
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()


def create_app() -> Flask:
    """Build the bare app on the database named by DATABASE_URL."""
    app = Flask(__name__)
    # The same pool settings as the real app (config.py), so the two differ only in the work done.
    engine = sa.create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)

    @app.post("/rows")
    def insert_row() -> Any:
        """Insert one row from the JSON body and return its id."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="send a JSON object"), 400
        with engine.begin() as conn:
            new_id = conn.execute(
                sa.insert(rows)
                .values(
                    customer_name=str(body.get("customer_name", ""))[:300],
                    body=body,
                    created_at=datetime.now(UTC),
                )
                .returning(rows.c.id)
            ).scalar_one()
        return jsonify(id=new_id), 201

    return app
