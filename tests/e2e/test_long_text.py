"""Long unbroken text wraps instead of widening the pages, at desktop and phone widths."""

from typing import Any

from flask import Flask

from models import TicketEvent, utcnow
from models.db import db
from tests.e2e.conftest import DESKTOP, PHONE, sign_in
from tests.factories import PASSWORD, make_registration, make_ticket, make_user

LONG = "A" * 3000


def _long_ticket(app: Flask) -> tuple[str, int, int]:
    with app.app_context():
        reviewer = make_user("reviewer", level=3, districts=[])
        partner = make_user("partner")
        reg = make_registration(partner, customer_name="B" * 300, notes=LONG)
        ticket = make_ticket(
            reg,
            status="decided",
            resolution="rejected",
            rationale=LONG,
            decided_at=utcnow(),
            title="C" * 300,
        )
        db.session.add(TicketEvent(ticket_id=ticket.id, kind="commented", body=LONG))
        db.session.commit()
        return reviewer.email, int(ticket.id or 0), int(reg.id or 0)


def test_long_unbroken_text_does_not_widen_the_pages(
    app: Flask, live_server: Any, page: Any
) -> None:
    email, ticket_id, reg_id = _long_ticket(app)
    base = live_server.url
    wide: list[str] = []
    sign_in(page, base, email, PASSWORD)
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        for path in (f"/tickets/{ticket_id}", f"/registrations/{reg_id}", "/queue"):
            page.goto(base + path)
            scroll = page.evaluate("() => document.documentElement.scrollWidth")
            if scroll > size["width"] + 2:
                wide.append(f"{path} at {size['width']}px is {scroll}px wide")
    page.set_viewport_size(DESKTOP)
    page.goto(f"{base}/queue")
    queue_table = page.evaluate("() => document.querySelector('table').scrollWidth")
    assert wide == []
    # The queue's table scrolls in its own box; a 300-letter name keeps it near the page width.
    assert 0 < queue_table < 2 * DESKTOP["width"]
