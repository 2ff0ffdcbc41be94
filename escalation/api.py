"""JSON API routes for tickets."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Attach nothing yet: routes register on the shared API blueprint at import."""
