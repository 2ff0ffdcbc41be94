"""The real app plus one endpoint that inserts one row through the app's own request stack.

``create_app()`` builds the app exactly as ``app:create_app()`` does, then adds
``POST /bench-floor/rows``: the API's bearer-token authentication, rate limiter and
last-used bookkeeping (the hooks of ``web.api_base``), the app's security headers and request
hooks, the request-scoped session, and one INSERT ... RETURNING into the bare baseline's table
with one commit. It is the floor every API call of the app stands on before any domain work,
so the http benchmark can show how much of a registration's cost is the stack and how much is
the submission itself. Its table is made by ``bench.bare_app.create_table``.
"""

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, jsonify, request

from bench.bare_app import rows
from models import utcnow
from models.db import session as db_session
from web import api_base
from web.security import csrf, limiter

PATH = "/bench-floor/rows"


def _floor_blueprint() -> Blueprint:
    floor = Blueprint("bench_floor", __name__, url_prefix="/bench-floor")
    floor.before_request(api_base._authenticate)
    floor.after_request(api_base._touch_token)
    limiter.limit(api_base._api_limit, key_func=api_base._token_key)(floor)
    csrf.exempt(floor)

    @floor.post("/rows")
    def insert_row() -> Any:
        """Insert one row from the JSON body and return its id."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return jsonify(error="send a JSON object"), 400
        sess = db_session()
        new_id = sess.execute(
            sa.insert(rows)
            .values(
                customer_name=str(body.get("customer_name", ""))[:300],
                body=body,
                created_at=utcnow(),
            )
            .returning(rows.c.id)
        ).scalar_one()
        sess.commit()
        return jsonify(id=new_id), 201

    return floor


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the real app (with the given config overrides) with the floor endpoint added."""
    from app import create_app as create_real_app

    app = create_real_app(overrides)
    app.register_blueprint(_floor_blueprint())
    return app
