"""Program admins at work in a browser: bringing a partner's employee in, and shutting them out."""

import re
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LiveServer, World, screenshot, sign_in
from tests.factories import PASSWORD

NEW_PASSWORD = "first day password"


def test_admin_adds_a_partner_user_who_signs_in_and_is_later_disabled(
    live_server: LiveServer, page: Any, world: World, browser: Any
) -> None:
    """An admin creates an account, its owner works, and disabling it ends the session at once."""
    base = live_server.url
    sign_in(page, base, world.admin, PASSWORD)
    page.goto(f"{base}/admin")
    page.get_by_role("link", name="Users").click()
    page.get_by_role("link", name="New user").click()
    page.get_by_label("E-mail").fill("Dana.New@Partner.example.com")
    page.get_by_label("Name").fill("Dana New")
    page.get_by_label("Role").select_option(label="Partner")
    page.get_by_label("Partner organisation").select_option(label=world.partner_name)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Create user").click()
    expect(page.locator(".flash-success")).to_contain_text("Created dana.new@partner.example.com")
    row = page.locator("tbody tr", has_text="dana.new@partner.example.com")
    expect(row).to_contain_text(world.partner_name)

    newcomer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(newcomer, base, "dana.new@partner.example.com", NEW_PASSWORD)
    expect(newcomer.get_by_role("link", name="Register a deal").first).to_be_visible()

    row.get_by_role("link", name="dana.new@partner.example.com").click()
    page.wait_for_url(re.compile(r"/admin/users/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dana New")
    screenshot(page, "admin-user-edit")
    page.get_by_role("button", name="Disable account").click()
    expect(page.locator(".flash-success")).to_contain_text("is disabled")
    expect(page.locator("dl.facts")).to_contain_text("Disabled")

    # The newcomer's next click finds the session gone, and the password no longer works.
    newcomer.goto(f"{base}/registrations")
    newcomer.wait_for_url(re.compile(r"/login"))
    newcomer.get_by_label("E-mail").fill("dana.new@partner.example.com")
    newcomer.get_by_label("Password").fill(NEW_PASSWORD)
    newcomer.get_by_role("button", name="Sign in").click()
    expect(newcomer).to_have_url(re.compile(r"/login"))
    newcomer.context.close()


def test_the_account_form_shows_only_what_the_role_uses(
    live_server: LiveServer, page: Any, world: World
) -> None:
    """Choosing a role (and a reviewer level) shows its fields; hidden ones are not sent."""
    base = live_server.url
    sign_in(page, base, world.admin, PASSWORD)
    page.goto(f"{base}/admin/users/new")
    partner_org = page.get_by_label("Partner organisation")
    level = page.get_by_label("Reviewer level")
    region = page.get_by_label("Region")
    districts = page.get_by_role("group", name="Districts")

    page.get_by_label("Role", exact=True).select_option(label="Partner")
    expect(partner_org).to_be_visible()
    for hidden in (level, region, districts):
        expect(hidden).to_be_hidden()

    page.get_by_label("Role", exact=True).select_option(label="Reviewer")
    expect(partner_org).to_be_hidden()
    expect(level).to_be_visible()
    level.select_option("2")
    expect(region).to_be_visible()
    expect(districts).to_be_visible()
    level.select_option("3")
    expect(region).to_be_hidden()
    expect(districts).to_be_hidden()
    level.select_option("1")
    expect(region).to_be_hidden()
    districts.get_by_label("Great Lakes").check()

    page.get_by_label("E-mail").fill("lee.moves@example.com")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Create user").click()
    expect(page.locator(".flash-success")).to_contain_text("Created lee.moves@example.com")
    page.locator("tbody tr", has_text="lee.moves@example.com").get_by_role("link").first.click()
    page.wait_for_url(re.compile(r"/admin/users/\d+$"))
    expect(page.get_by_label("Reviewer level")).to_have_value("1")

    # The reviewer becomes a partner user: the level and districts they had are not sent, so
    # the change is accepted without clearing them by hand first.
    page.get_by_label("Role", exact=True).select_option(label="Partner")
    page.get_by_label("Partner organisation").select_option(label=world.partner_name)
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.locator(".error")).to_have_count(0)
    page.goto(f"{base}/admin/users")
    expect(page.locator("tbody tr", has_text="lee.moves@example.com")).to_contain_text(
        world.partner_name
    )
