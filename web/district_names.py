"""District display names for pages, read once per request."""

from flask import g, has_app_context

from models.db import session as db_session
from models.district import district_names


def district_name(code: str | None) -> str:
    """Return a district's name for display, its code when it is unknown, a dash when empty."""
    if not code:
        return "—"
    if not has_app_context():
        return code
    # One read of the small district table serves every row of a page.
    if "district_names" not in g:
        g.district_names = district_names(db_session())
    names: dict[str, str] = g.district_names
    return names.get(code, code)
