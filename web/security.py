"""CSRF, rate limiting, security headers and write-intent marking for every request."""

from typing import Any

from flask import Flask, Response, g, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect
from werkzeug.routing import IntegerConverter, Map

from models.base import MAX_ID
from models.db import _immediate

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Rate-limit stores reached over a socket, which can stop answering.
NETWORK_STORES = ("redis://", "rediss://", "redis+unix://", "redis+sentinel://")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "object-src 'none'"
)


class IdConverter(IntegerConverter):
    """The <int:...> converter, bounded to the database's id range (larger ids answer 404)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def apply_storage_timeouts(app: Flask) -> None:
    """Give a networked rate-limit store the configured socket timeouts."""
    # The in-process store has nothing to wait for and takes no socket options.
    uri = str(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if uri.startswith(NETWORK_STORES):
        timeout = float(app.config.get("RATELIMIT_STORAGE_TIMEOUT", 0.5))
        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        app.config["RATELIMIT_STORAGE_OPTIONS"] = {
            **options,
            **app.config.get("RATELIMIT_STORAGE_OPTIONS", {}),
        }


def init_app(app: Flask) -> None:
    """Install CSRF protection, the limiter, the response headers and the id converter."""
    # Before any blueprint registers its routes, so every <int:...> uses the bounded converter.
    app.url_map.converters["int"] = IdConverter
    csrf.init_app(app)
    app.config.setdefault("RATELIMIT_ENABLED", True)
    apply_storage_timeouts(app)
    limiter.init_app(app)

    @app.before_request
    def _mark_writes() -> None:
        # Writers take SQLite's write lock at BEGIN so concurrent posts queue instead of failing.
        if request.method in WRITE_METHODS:
            g._write_token = _immediate.set(True)

    @app.teardown_request
    def _unmark_writes(_exc: BaseException | None) -> None:
        token = g.pop("_write_token", None)
        if token is not None:
            _immediate.reset(token)

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if request.endpoint != "static" and (
            "Authorization" in request.headers or "_user_id" in session
        ):
            # What a signed-in person sees is theirs alone: after signing out on a shared
            # computer, Back or the history must not bring it up again from the cache.
            resp.headers.setdefault("Cache-Control", "no-store")
        if request.is_secure:
            resp.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return resp
