"""Error pages for people and JSON errors for the API, never a stack trace."""

import logging
from typing import Any

import sqlalchemy.exc
from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from models.db import db

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def wants_json() -> bool:
    """Return True when the client is the JSON API."""
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def json_error(status: int, message: str, details: Any = None, code: str | None = None) -> Any:
    """Build the API's error body {"error": {"code", "message", "details"}}."""
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message}}
    body["error"]["details"] = details if details is not None else {}
    return jsonify(body), status


def _render(status: int, title: str, message: str) -> Any:
    if wants_json():
        return json_error(status, message)
    return render_template("errors/error.html", status=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        status = exc.code or 500
        resp = _render(status, exc.name, exc.description or exc.name)
        if status == 429 and getattr(exc, "retry_after", None):
            return resp[0], status, {"Retry-After": str(exc.retry_after)}  # type: ignore[attr-defined]
        if status == 405:
            # The methods the route does take, as HTTP asks of every 405 answer.
            allowed = [h for k, h in exc.get_headers() if k.lower() == "allow"]
            if allowed:
                return resp[0], status, {"Allow": allowed[0]}
        return resp

    @app.errorhandler(sqlalchemy.exc.OperationalError)
    def _db_down(exc: sqlalchemy.exc.OperationalError) -> Any:
        log.error("database unavailable: %s", exc.orig)
        db.session.rollback()
        resp = _render(
            503,
            "Service unavailable",
            "The database is not reachable right now. Nothing was saved; please try again shortly.",
        )
        return resp[0], 503, {"Retry-After": "5"}

    @app.errorhandler(sqlalchemy.exc.DataError)
    def _bad_value(exc: sqlalchemy.exc.DataError) -> Any:
        # The database refused a value taken from the request (a number beyond a column's
        # range, or a NUL character, in a cursor or filter): the request is at fault, and
        # nothing was written.
        log.error("database refused a value on %s %s: %s", request.method, request.path, exc.orig)
        db.session.rollback()
        return _render(
            400,
            "Bad request",
            "A value in the request cannot be used: a number out of range or a NUL character. "
            "Nothing was saved.",
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return _render(500, "Something went wrong", "The error was logged. Nothing was saved.")
