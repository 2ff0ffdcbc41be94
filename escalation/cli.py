"""flask jobs run NAME and flask scheduler run."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the scheduler commands."""
