"""The live check in Chromium: the script sends every field the rules read."""

import re
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from flask import Flask

from models import ConflictFinding, Registration, User
from models.db import db
from tests.conflict.test_precheck_parity import BROOKFIELD, HOOLI_HELD, as_user, stored, submit
from tests.conflict.test_precheck_parity import world as world  # this module's world, not e2e's
from tests.e2e.conftest import fill_registration, sign_in
from tests.factories import PASSWORD


def _status_after_submit(app: Flask, pg: Any) -> str:
    pg.get_by_role("button", name="Submit registration").click()
    pg.wait_for_url(re.compile(r".*/registrations/\d+$"))
    status, _ = stored(app, int(pg.url.rsplit("/", 1)[1]))
    return status


def test_browser_precheck_sees_the_early_dotnet_exception(
    app: Flask, world: SimpleNamespace, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    sign_in(page, live_server.url, world.mcs, PASSWORD)
    fill_registration(page, live_server.url, **BROOKFIELD)
    expect(page.locator("#precheck")).to_contain_text("Would go to exception review")
    expect(page.locator("#precheck")).not_to_contain_text("rejected")
    assert _status_after_submit(app, page) == "in_exception_review"


def test_browser_precheck_tells_a_partner_nothing_of_the_other_claim(
    app: Flask, world: SimpleNamespace, live_server: Any, page: Any
) -> None:
    from playwright.sync_api import expect

    submit(as_user(app, world.bob), HOOLI_HELD)
    sign_in(page, live_server.url, world.alice, PASSWORD)
    fill_registration(page, live_server.url, **HOOLI_HELD, solution_stack="all_microsoft")
    live = page.locator("#precheck")
    expect(live).to_contain_text("Another registration on this customer may conflict")
    expect(live).not_to_contain_text("priority")
    # The stack the form sent decides the priority the submission then tells.
    assert _status_after_submit(app, page) == "in_conflict"
    with app.app_context():
        alice = db.session.execute(sa.select(User).where(User.email == world.alice)).scalar_one()
        row = db.session.execute(
            sa.select(ConflictFinding)
            .join(Registration, Registration.id == ConflictFinding.registration_id)
            .where(Registration.submitted_by_id == alice.id)
        ).scalar_one()
        assert "This registration has priority" in row.message
