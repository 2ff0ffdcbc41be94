"""flask commands for the conflict engine and named-account lists."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the conflict commands."""
