"""Admin operations pages: outbox, job runs and webhook endpoints."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the operations pages."""
