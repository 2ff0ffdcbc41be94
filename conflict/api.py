"""JSON API routes for registrations, conflict checks and named-account lists."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Attach nothing yet: routes register on the shared API blueprint at import."""
