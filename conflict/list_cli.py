"""flask accounts ...: import and diff named-account lists."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the accounts commands."""
