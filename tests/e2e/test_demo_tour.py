"""The demo program as `make run` serves it: every documented sign-in lands on a full page."""

from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, check_pages, screenshot, sign_in

DEMO_PASSWORD = "channelguard-demo"


@pytest.fixture()
def demo(app: Flask) -> dict[str, str]:
    """Load the demo program with `flask demo-data`; return the documented sign-ins by note."""
    from conflict import index_cache
    from demo.loader import demo_logins
    from models.db import db

    index_cache.clear()
    result = app.test_cli_runner().invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        logins = {login.note: login.email for login in demo_logins(db.session())}
    assert all(email in result.output for email in logins.values())
    return logins


def _by_note(logins: dict[str, str], words: str) -> str:
    """Return the e-mail of the one demo sign-in whose note contains words."""
    found = [email for note, email in logins.items() if words in note]
    assert len(found) == 1, (words, logins)
    return found[0]


def test_every_demo_sign_in_lands_on_a_page_with_work(
    live_server: LiveServer, browser: Any, demo: dict[str, str]
) -> None:
    """Sign in as each demo user; the landing page has data; take the guide's overview shots."""
    base = live_server.url

    def visit(email: str) -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        sign_in(pg, base, email, DEMO_PASSWORD)
        return pg

    admin = visit("admin@example.com")
    assert admin.url == f"{base}/dashboard"
    expect(admin.locator("svg.chart").first).to_be_visible()
    screenshot(admin, "admin-dashboard", full_page=False)
    admin.goto(f"{base}/admin/lists")
    expect(admin.locator("#effective-h + p")).to_contain_text("1,000 accounts")
    admin.goto(f"{base}/admin/outbox?status=pending")
    expect(admin.get_by_role("heading", level=1)).to_be_visible()
    screenshot(admin, "admin-outbox", full_page=False)
    admin.goto(f"{base}/admin/jobs")
    expect(admin.get_by_role("button", name="Run now deliver_outbox")).to_be_visible()
    screenshot(admin, "admin-jobs", full_page=False)
    admin.context.close()

    district = visit("reviewer.northeast@example.com")
    assert district.url == f"{base}/queue"
    expect(district.locator("table.queue tbody tr").first).not_to_contain_text("Nothing waiting")
    screenshot(district, "demo-queue-district", full_page=False)
    district.context.close()

    region = visit("region.east@example.com")
    region.goto(f"{base}/queue?level=2")
    expect(region.locator("table.queue tbody tr").first).not_to_contain_text("Nothing waiting")
    region.context.close()

    national = visit("national@example.com")
    national.goto(f"{base}/queue?level=3")
    expect(national.locator("table.queue .badge-breached").first).to_be_visible()
    screenshot(national, "demo-queue-national", full_page=False)
    national.context.close()

    mcs = visit(_by_note(demo, "MCS seller"))
    expect(mcs.get_by_role("heading", level=1)).to_have_text("MCS engagements")
    expect(mcs.locator("tbody tr").first).not_to_contain_text("No registrations match")
    mcs.context.close()

    for tier in ("(Gold Certified)", "(Certified)"):
        partner = visit(_by_note(demo, tier))
        expect(partner.get_by_role("heading", level=1)).to_have_text("My registrations")
        expect(partner.locator("tbody tr").first).not_to_contain_text("No registrations match")
        if tier == "(Gold Certified)":
            screenshot(partner, "demo-partner-registrations", full_page=False)
        partner.context.close()


def test_busy_pages_stay_accessible(
    live_server: LiveServer, browser: Any, demo: dict[str, str]
) -> None:
    """The pages with most data (charts, long queues, 1,000 accounts) pass the page checks."""
    from tests.e2e.conftest import signed_in

    page = signed_in(browser, live_server.url, "admin@example.com", DEMO_PASSWORD)
    try:
        paths = ["/dashboard", "/queue", "/registrations", "/admin/lists", "/admin/outbox"]
        problems = check_pages(page, live_server.url, paths, {"/dashboard": "phone-dashboard"})
    finally:
        page.context.close()
    assert problems == [], "\n".join(problems)
