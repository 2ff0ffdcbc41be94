"""Main pages per role: a title, labelled fields, keyboard use, two widths, no axe blockers."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.e2e.conftest import (
    DESKTOP,
    LiveServer,
    World,
    check_pages,
    register_directly,
    signed_in,
)
from tests.factories import PASSWORD


@dataclass(frozen=True)
class Ids:
    """Records the pages under test show."""

    conflict_reg: int
    conflict_ticket: int
    approved_reg: int
    exception_reg: int
    exception_ticket: int


@pytest.fixture()
def records(live_server: LiveServer, world: World) -> Ids:
    """Give the pages something to show: a conflict, an approved deal and an exception."""
    app = live_server.app
    conflict_reg, conflict_ticket = register_directly(
        app,
        world.partner,
        customer_name="Pfizer Inc.",
        customer_domain="pfizer.com",
        district="northeast",
        pc_count=6500,
        workloads=["exchange", "sharepoint"],
        solution_stack="all_microsoft",
        infrastructure_maturity="standardized",
        notes="Modern workplace pilot.",
    )
    approved_reg, _ = register_directly(
        app,
        world.partner,
        customer_name="Wegmans Food Markets",
        customer_domain="wegmans.com",
        district="northeast",
        pc_count=3000,
        workloads=["exchange"],
    )
    exception_reg, exception_ticket = register_directly(
        app,
        world.mcs,
        customer_name="Vermont Teddy Bear Company",
        district="northeast",
        pc_count=1200,
        workloads=["dotnet_server"],
        dotnet_early_adoption=True,
        estimated_value=400_000,
    )
    live_server.run_job("route_exceptions")
    assert conflict_ticket is not None and exception_ticket is not None
    return Ids(conflict_reg, conflict_ticket, approved_reg, exception_reg, exception_ticket)


RolePaths = Callable[[Ids], list[str]]

ROLE_PAGES: dict[str, RolePaths] = {
    "partner": lambda ids: [
        "/registrations",
        "/registrations/new",
        f"/registrations/{ids.conflict_reg}",
        f"/registrations/{ids.approved_reg}",
        "/accounts/lookup",
        "/accounts/lookup?q=pfizer.com",
        "/accounts/lookup?q=Wegmans",
        f"/tickets/{ids.conflict_ticket}",
        "/profile",
        "/partners/{partner_id}/credits",
    ],
    "mcs": lambda ids: [
        "/registrations",
        "/registrations/new",
        f"/registrations/{ids.exception_reg}",
        f"/tickets/{ids.exception_ticket}",
    ],
    "reviewer": lambda ids: [
        "/queue",
        "/queue?type=exception",
        f"/tickets/{ids.conflict_ticket}",
        f"/tickets/{ids.exception_ticket}",
        f"/registrations/{ids.conflict_reg}",
        "/dashboard",
        "/admin/lists/reviews",
    ],
    "admin": lambda ids: [
        "/dashboard",
        "/queue",
        "/registrations",
        "/admin/lists",
        "/admin/lists/{list_id}",
        "/customers?name=Pfizer+Inc.",
        "/admin",
        "/admin/users",
        "/admin/users/new",
        "/admin/partners",
        "/admin/partners/new",
        "/admin/partners/{partner_id}/edit",
        "/admin/policy",
        "/admin/outbox",
        "/admin/jobs",
        "/admin/webhooks",
        f"/tickets/{ids.conflict_ticket}",
    ],
}

# Phone-width screenshots for the user guide.
PHONE_SHOTS: dict[str, dict[str, str]] = {
    "partner": {"/registrations/new": "phone-new-registration"},
    "reviewer": {"/queue": "phone-queue"},
}


def _email_of(world: World, role: str) -> str:
    return {
        "partner": world.partner,
        "mcs": world.mcs,
        "reviewer": world.reviewer,
        "admin": world.admin,
    }[role]


@pytest.mark.parametrize("role", list(ROLE_PAGES))
def test_main_pages_are_accessible_at_both_widths(
    live_server: LiveServer, browser: Any, world: World, records: Ids, role: str
) -> None:
    """Every page of a role passes the checks at 1280 px and at 390 px."""
    paths = ROLE_PAGES[role](records)
    paths = [p.format(list_id=world.list_id, partner_id=world.partner_id) for p in paths]
    page = signed_in(browser, live_server.url, _email_of(world, role))
    try:
        problems = check_pages(page, live_server.url, paths, PHONE_SHOTS.get(role, {}))
    finally:
        page.context.close()
    assert problems == [], "\n".join(problems)


def test_login_page_works_from_the_keyboard(
    live_server: LiveServer, page: Any, app: Flask, world: World
) -> None:
    """Tab walks skip link, home link, e-mail, password and button in order; Enter signs in."""
    base = live_server.url
    problems = check_pages(page, base, ["/login"], {"/login": "phone-login"})
    assert problems == [], "\n".join(problems)
    page.set_viewport_size(DESKTOP)
    page.goto(f"{base}/login")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="ChannelGuard")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_label("E-mail")).to_be_focused()
    page.keyboard.type(world.partner)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/registrations")
    expect(page.get_by_role("heading", level=1)).to_have_text("My registrations")


def _tab_until(page: Any, accessible_name: str, limit: int = 80) -> int:
    """Press Tab until the focused element is named accessible_name; return the presses."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        name = page.evaluate(
            "() => (document.activeElement.innerText || document.activeElement.value || '').trim()"
        )
        if name == accessible_name:
            return presses
    raise AssertionError(f"Tab never reached {accessible_name!r} in {limit} presses")


def test_registration_form_is_usable_from_the_keyboard(
    live_server: LiveServer, browser: Any, world: World
) -> None:
    """A partner fills the form and submits it without a mouse; focus is always visible."""
    base = live_server.url
    page = signed_in(browser, base, world.partner)
    try:
        page.goto(f"{base}/registrations/new")
        page.get_by_label("Customer name").focus()
        page.keyboard.type("Wegmans Food Markets")
        page.locator("input[name='workloads'][value='exchange']").focus()
        page.keyboard.press("Space")
        expect(page.locator("input[name='workloads'][value='exchange']")).to_be_checked()
        _tab_until(page, "Submit registration")
        outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("none", ""), "the focused button shows no focus outline"
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/registrations/*")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Wegmans Food Markets")
    finally:
        page.context.close()


def test_queue_claim_works_from_the_keyboard(
    live_server: LiveServer, browser: Any, world: World, records: Ids
) -> None:
    """A reviewer reaches a row's Claim button with Tab and claims with Enter."""
    base = live_server.url
    page = signed_in(browser, base, world.reviewer)
    try:
        page.goto(f"{base}/queue?type=conflict")
        page.get_by_role("button", name="Filter").focus()
        _tab_until(page, "Claim")
        page.keyboard.press("Enter")
        expect(page.locator(".flash-success")).to_contain_text("Claimed 1 ticket(s)")
    finally:
        page.context.close()
