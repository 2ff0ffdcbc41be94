"""The product as its users meet it: whole journeys in a browser, with e-mail over real SMTP."""

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from playwright.sync_api import expect

from models import Registration, Ticket, utcnow
from models.db import db
from tests.e2e.conftest import (
    LiveServer,
    World,
    fill_registration,
    one_mail,
    register_directly,
    screenshot,
    sign_in,
)
from tests.factories import PASSWORD

REG_URL = re.compile(r"/registrations/(\d+)$")


def _id_from(url: str, pattern: re.Pattern[str]) -> int:
    """Return the numeric id at the end of a page URL, failing when the URL is not that page."""
    match = pattern.search(url)
    assert match, f"unexpected page {url}"
    return int(match.group(1))


def _ticket(app: Flask, ticket_id: int) -> Ticket:
    """Load a ticket as the database has it now."""
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        assert ticket is not None
        db.session.expunge(ticket)
        return ticket


def _registration(app: Flask, reg_id: int) -> Registration:
    """Load a registration as the database has it now."""
    with app.app_context():
        reg = db.session.get(Registration, reg_id)
        assert reg is not None
        db.session.expunge(reg)
        return reg


def test_partner_registers_a_named_account_and_sees_the_conflict(
    live_server: LiveServer, page: Any, world: World
) -> None:
    """Journey a: look-up says reserved; the deal is in conflict; MCS owner and reviewer told."""
    base = live_server.url
    sign_in(page, base, world.partner, PASSWORD)
    assert page.url == f"{base}/registrations"
    expect(page.get_by_role("heading", level=1)).to_have_text("My registrations")

    # Before investing: is the account named?
    page.get_by_role("link", name="Account look-up").click()
    page.get_by_label("Company name or web domain").fill("Pfizer Inc.")
    page.get_by_role("button", name="Look up").click()
    answer = page.locator("#lookup-answer")
    expect(answer.get_by_role("heading")).to_have_text("Reserved — a named account")
    expect(answer).to_contain_text("Pfizer is a named account of the direct arm.")
    expect(answer.get_by_role("link", name=world.mcs_owner)).to_have_attribute(
        "href", f"mailto:{world.mcs_owner}"
    )
    screenshot(page, "partner-lookup-reserved")

    # Register anyway: the live check warns before submitting.
    fill_registration(
        page,
        base,
        customer_name="Pfizer Inc.",
        customer_domain="https://www.pfizer.com/about",
        district="northeast",
        pc_count=6500,
        workloads=["exchange", "sharepoint"],
        solution_stack="all_microsoft",
        notes="Modern workplace pilot for the Groton research site.",
    )
    expect(page.locator("#precheck")).to_contain_text("Reserved for MCS — named account Pfizer")
    screenshot(page, "partner-new-registration")
    page.get_by_role("button", name="Submit registration").click()
    page.wait_for_url(REG_URL)
    reg_id = _id_from(page.url, REG_URL)

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Registration {reg_id}: Pfizer Inc.")
    expect(page.locator(".flash-success")).to_have_text(
        f"Registration {reg_id} for Pfizer Inc. was submitted."
    )
    decision = page.locator("section.decision")
    expect(decision).to_contain_text("A channel manager decides who leads.")
    finding = page.locator(".finding").first
    expect(finding.get_by_role("heading")).to_have_text("Named account")
    expect(finding).to_contain_text(
        "Pfizer Inc. is the named account Pfizer (SP-PFE), matched by web domain"
    )
    expect(finding).to_contain_text("Named accounts are served by MCS")
    assert _registration(live_server.app, reg_id).status == "in_conflict"
    ticket_link = decision.get_by_role("link", name=re.compile(r"^ticket \d+$"))
    ticket_id = int((ticket_link.text_content() or "").split()[-1])
    screenshot(page, "partner-registration-in-conflict")

    # The ticket link works and the partner sees the public timeline only.
    ticket_link.click()
    page.wait_for_url(f"{base}/tickets/{ticket_id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Ticket {ticket_id}")
    expect(page.locator("#parties-h + dl")).to_contain_text("A channel manager")
    timeline = page.locator("ol.timeline")
    expect(timeline).to_contain_text("Opened")
    expect(timeline).not_to_contain_text("Routed")  # internal events stay with the staff

    # The partner's list shows the registration in conflict.
    page.get_by_role("link", name="My registrations").click()
    row = page.locator("tbody tr", has_text="Pfizer Inc.")
    expect(row.locator(".badge")).to_have_text("In conflict")

    box = live_server.deliver_mail()
    owner_mail = one_mail(box, world.mcs_owner, "Conflict opened")
    assert "Pfizer Inc." in owner_mail["text/plain"]
    assert f"/tickets/{ticket_id}" in owner_mail["text/plain"]
    assert f"/tickets/{ticket_id}" in owner_mail["text/html"]
    reviewer_mail = one_mail(box, world.reviewer, "Assigned to you")
    assert f"Ticket #{ticket_id} is assigned to you." in reviewer_mail["text/plain"]
    one_mail(box, world.partner, "Conflict opened")
    assert box.to(world.other_reviewer) == []


def test_reviewer_decides_a_joint_engagement_and_the_partner_is_told(
    live_server: LiveServer, page: Any, world: World, browser: Any
) -> None:
    """Journey b: filter, claim, comment and decide in the queue; the partner reads the outcome."""
    app, base = live_server.app, live_server.url
    reg_id, ticket_id = register_directly(
        app,
        world.partner,
        customer_name="Prudential Financial Inc",
        customer_domain="prudential.com",
        district="northeast",
        pc_count=9000,
        workloads=["sharepoint"],
    )
    assert ticket_id is not None
    # A conflict in another district must not be in the filtered view.
    register_directly(app, world.partner, customer_name="Hershey", district="mid_atlantic")
    live_server.deliver_mail().clear()

    sign_in(page, base, world.reviewer, PASSWORD)
    assert page.url == f"{base}/queue"
    page.get_by_label("District").select_option("northeast")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"/queue\?.*district=northeast"))
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Named account: Prudential Financial")
    expect(rows.first).to_contain_text("Nora Northeast")  # routed to the district's reviewer
    screenshot(page, "reviewer-queue")
    rows.first.get_by_role("button", name=f"Claim ticket {ticket_id}").click()
    expect(page.locator(".flash-success")).to_have_text(f"Claimed 1 ticket(s) (#{ticket_id}).")
    expect(page.locator("table.queue tbody tr").first).to_contain_text("In review")

    page.get_by_role("link", name=str(ticket_id), exact=True).click()
    page.wait_for_url(f"{base}/tickets/{ticket_id}")
    page.get_by_role("textbox", name="Comment").fill(
        "Spoke to both sides; the partner owns the intranet work."
    )
    page.get_by_role("button", name="Add comment").click()
    expect(page.locator(".flash-success")).to_have_text("Comment added.")
    expect(page.locator(".timeline")).to_contain_text("the partner owns the intranet work")

    rationale = (
        "Fabrikam runs the SharePoint intranet; MCS keeps the enterprise agreement. "
        "Both work together on this account."
    )
    page.get_by_label("Resolution").select_option("joint_engagement")
    page.get_by_label("Rationale").fill(rationale)
    screenshot(page, "reviewer-ticket-decide")
    page.get_by_role("button", name="Decide").click()
    expect(page.locator(".flash-success")).to_have_text(f"Ticket #{ticket_id} is decided.")
    decided = page.locator("section[aria-labelledby='decision-h']")
    expect(decided).to_contain_text("Joint engagement")
    expect(decided).to_contain_text(rationale)
    ticket = _ticket(app, ticket_id)
    assert (ticket.status, ticket.resolution) == ("decided", "joint_engagement")

    box = live_server.deliver_mail()
    mail = one_mail(
        box, world.partner, f"Decided: Named account: Prudential Financial (ticket #{ticket_id})"
    )
    assert f"Ticket #{ticket_id} was decided: Joint engagement." in mail["text/plain"]
    assert rationale in mail["text/plain"]
    assert rationale in mail["text/html"]

    # The partner, in a browser of their own, sees the decision on the registration.
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    partner_page = context.new_page()
    sign_in(partner_page, base, world.partner, PASSWORD)
    partner_page.goto(f"{base}/registrations/{reg_id}")
    block = partner_page.locator(".ticket-summary")
    expect(block).to_contain_text(f"Ticket {ticket_id}")
    expect(block).to_contain_text(f"Joint engagement: {rationale}")
    # A joint engagement lets the partner go ahead alongside MCS.
    assert _registration(app, reg_id).status == "approved"
    expect(partner_page.locator(".decision-line")).to_contain_text(
        "The registration is yours until it expires."
    )
    partner_page.goto(f"{base}/tickets/{ticket_id}")
    expect(partner_page.locator("section[aria-labelledby='decision-h']")).to_contain_text(rationale)
    screenshot(partner_page, "partner-ticket-decided")
    context.close()


def test_mcs_exception_is_routed_then_escalated_when_its_sla_passes(
    live_server: LiveServer, page: Any, world: World, browser: Any
) -> None:
    """Journey c: a high-impact early .NET deal on a small account goes to exception review."""
    import time_machine

    app, base = live_server.app, live_server.url
    sign_in(page, base, world.mcs, PASSWORD)
    assert page.url == f"{base}/registrations"
    expect(page.get_by_role("heading", level=1)).to_have_text("MCS engagements")
    page.get_by_role("link", name="Register an engagement").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Register an MCS engagement")
    fill_registration(
        page,
        base,
        customer_name="Vermont Teddy Bear Company",
        customer_domain="vermontteddybear.com",
        district="northeast",
        pc_count=1200,
        workloads=["dotnet_server", "azure"],
        dotnet_early_adoption=True,
        estimated_value=400_000,
        notes="Early .NET web-services rebuild of the order system; the customer asked MCS.",
    )
    screenshot(page, "mcs-new-engagement")
    page.get_by_role("button", name="Submit registration").click()
    page.wait_for_url(REG_URL)
    reg_id = _id_from(page.url, REG_URL)
    decision = page.locator("section.decision")
    expect(decision).to_contain_text("Reviewers decide whether the direct arm")
    expect(page.locator(".finding h3")).to_contain_text(["Early .NET exception"])
    ticket_link = decision.get_by_role("link", name=re.compile(r"^ticket \d+$"))
    ticket_id = int((ticket_link.text_content() or "").split()[-1])
    screenshot(page, "mcs-engagement-exception-review")
    assert _registration(app, reg_id).status == "in_exception_review"
    ticket = _ticket(app, ticket_id)
    assert (ticket.type, ticket.level, ticket.owner_id) == ("exception", 1, None)

    # The scheduler routes the exception to the district's reviewer.
    live_server.run_job("route_exceptions")
    box = live_server.deliver_mail()
    routed = one_mail(box, world.reviewer, "Exception to review")
    assert f"Exception ticket #{ticket_id} is routed to you for review." in routed["text/plain"]
    assert box.to(world.other_reviewer) == []

    reviewer = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(reviewer, base, world.reviewer, PASSWORD)
    reviewer.goto(f"{base}/queue?type=exception")
    row = reviewer.locator("table.queue tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(".NET exception: Vermont Teddy Bear Company")
    expect(row).to_contain_text("Exception")
    expect(row).to_contain_text("Nora Northeast")
    screenshot(reviewer, "reviewer-queue-exception")

    # Nobody decides; once the level-1 SLA has passed, the sweep moves it to the region.
    due = _ticket(app, ticket_id).sla_due_at
    assert due is not None and due > utcnow()
    with time_machine.travel(due + timedelta(minutes=5), tick=False):
        live_server.run_job("escalate_overdue")
        # Mail queued "now" is due now; deliver it before returning to the present.
        box = live_server.deliver_mail()
    ticket = _ticket(app, ticket_id)
    assert (ticket.level, ticket.status) == (2, "open")
    assert ticket.sla_due_at is not None and ticket.sla_due_at > due
    escalated = one_mail(box, world.region_reviewer, "escalated to you")
    assert f"#{ticket_id}" in escalated["text/plain"]

    region = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(region, base, world.region_reviewer, PASSWORD)
    region.goto(f"{base}/queue?level=2")
    row = region.locator("table.queue tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(5)).to_have_text("2")
    expect(row).to_contain_text("Erin East Region")
    region.get_by_role("link", name=str(ticket_id), exact=True).click()
    expect(region.get_by_role("heading", level=1)).to_contain_text(f"Ticket {ticket_id}")
    expect(region.locator("main > p").first).to_contain_text("Level 2 (region)")
    expect(region.locator(".timeline")).to_contain_text("Escalated")
    expect(region.locator(".timeline")).to_contain_text("Level 1 → 2")
    screenshot(region, "reviewer-ticket-escalated")

    # Still undecided past the region's SLA: national level; past that, breached.
    level2_due = ticket.sla_due_at
    with time_machine.travel(level2_due + timedelta(minutes=5), tick=False):
        live_server.run_job("escalate_overdue")
        box = live_server.deliver_mail()
    ticket = _ticket(app, ticket_id)
    assert (ticket.level, ticket.breached) == (3, False)
    one_mail(box, world.national_reviewer, "escalated to you")
    assert ticket.sla_due_at is not None
    with time_machine.travel(ticket.sla_due_at + timedelta(minutes=5), tick=False):
        live_server.run_job("escalate_overdue")
        box = live_server.deliver_mail()
    assert _ticket(app, ticket_id).breached
    one_mail(box, world.national_reviewer, "breached the national SLA")

    national = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(national, base, world.national_reviewer, PASSWORD)
    row = national.locator("table.queue tbody tr", has_text="Vermont Teddy Bear Company")
    expect(row.locator("td").nth(5)).to_have_text("3")
    expect(row.locator(".badge-breached")).to_have_text("Breached")
    screenshot(national, "national-queue-breached")
    for pg in (reviewer, region, national):
        pg.context.close()


def _list_csv(extra: list[dict[str, Any]]) -> bytes:
    """Return the journeys' named-account list plus extra accounts as an upload file."""
    from tests.e2e.conftest import NAMED_ACCOUNTS

    cols = ["account_id", "name", "domain", "aliases", "segment", "district", "pc_count"]
    cols.append("mcs_owner_email")
    lines = [",".join(cols)]
    for acc in [*NAMED_ACCOUNTS, *extra]:
        lines.append(",".join(str(acc.get(c, "")) for c in cols))
    return ("\n".join(lines) + "\n").encode()


def test_admin_publishes_a_list_that_puts_an_open_registration_in_conflict(
    live_server: LiveServer, page: Any, world: World, browser: Any
) -> None:
    """Journey d: upload, diff and impact preview, publish; an approved deal moves into conflict."""
    app, base = live_server.app, live_server.url
    reg_id, ticket_id = register_directly(
        app,
        world.partner,
        customer_name="Hasbro, Inc.",
        customer_domain="hasbro.com",
        district="northeast",
        pc_count=7000,
        workloads=["office365"],
    )
    assert ticket_id is None and _registration(app, reg_id).status == "approved"
    live_server.deliver_mail().clear()

    sign_in(page, base, world.admin, PASSWORD)
    page.get_by_role("link", name="Named-account lists").click()
    expect(page.locator("#effective-h + p")).to_contain_text("Named accounts H1")
    hasbro = {
        "account_id": "MJ-HAS",
        "name": "Hasbro",
        "domain": "hasbro.com",
        "aliases": "Hasbro Inc",
        "segment": "major",
        "district": "northeast",
        "pc_count": 6200,
        "mcs_owner_email": "morgan.owner@mcs.example.com",
    }
    page.get_by_label("CSV file").set_input_files(
        files=[
            {"name": "named-accounts-h2.csv", "mimeType": "text/csv", "buffer": _list_csv([hasbro])}
        ]
    )
    page.get_by_label("Label", exact=True).fill("Named accounts H2")
    expect(page.get_by_label("Publish now")).not_to_be_checked()
    screenshot(page, "admin-lists-upload")
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/admin/lists/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Named accounts H2")
    expect(page.locator("dl.facts")).to_contain_text("Draft")

    diff = page.locator("section[aria-labelledby='diff-h']")
    expect(diff).to_contain_text("1 added, 0 removed, 0 changed.")
    expect(diff.locator("table").first).to_contain_text("MJ-HAS")
    impact = page.locator("section[aria-labelledby='impact-h']")
    expect(impact).to_contain_text("1 would become named-account conflicts")
    impact_row = impact.locator("tbody tr")
    expect(impact_row).to_have_count(1)
    expect(impact_row).to_contain_text("Hasbro, Inc.")
    expect(impact_row.get_by_role("link", name=str(reg_id))).to_be_visible()
    screenshot(page, "admin-list-diff-impact")
    assert _registration(app, reg_id).status == "approved"  # the preview changes nothing

    page.get_by_role("button", name="Publish this version").click()
    expect(page.locator(".flash-success")).to_contain_text("Published Named accounts H2")
    expect(page.locator("dl.facts")).to_contain_text("Published")
    assert _registration(app, reg_id).status == "in_conflict"

    box = live_server.deliver_mail()
    one_mail(box, world.mcs_owner, "Conflict opened: Named account: Hasbro")

    partner = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in(partner, base, world.partner, PASSWORD)
    row = partner.locator("tbody tr", has_text="Hasbro, Inc.")
    expect(row.locator(".badge")).to_have_text("In conflict")
    row.get_by_role("link", name="Hasbro, Inc.").click()
    partner.wait_for_url(f"{base}/registrations/{reg_id}")
    expect(partner.locator("section.decision")).to_contain_text("In conflict")
    finding = partner.locator(".finding").first
    expect(finding.get_by_role("heading")).to_have_text("Named account")
    expect(finding).to_contain_text("Hasbro")
    expect(partner.locator(".ticket-summary")).to_be_visible()
    partner.context.close()


def _registration_count(app: Flask) -> int:
    """Count every registration in the database."""
    with app.app_context():
        return int(
            db.session.execute(sa.select(sa.func.count()).select_from(Registration)).scalar_one()
        )


def test_a_double_submitted_form_makes_one_registration(
    live_server: LiveServer, page: Any, world: World
) -> None:
    """Journey e: a double click, then the same form posted twice at once, each make one."""
    app, base = live_server.app, live_server.url
    sign_in(page, base, world.partner, PASSWORD)
    fill_registration(
        page,
        base,
        customer_name="Wegmans Food Markets",
        customer_domain="wegmans.com",
        district="northeast",
        pc_count=3000,
        workloads=["exchange"],
    )
    page.get_by_role("button", name="Submit registration").dblclick()
    page.wait_for_url(REG_URL)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Wegmans Food Markets")
    assert _registration_count(app) == 1

    # The same filled form (one nonce) posted twice at the same moment, then once more later,
    # as a browser's "resubmit the form?" would.
    fill_registration(
        page,
        base,
        customer_name="Corning Incorporated",
        customer_domain="corning.com",
        district="northeast",
        pc_count=2500,
        workloads=["sharepoint"],
    )
    answers = page.evaluate(
        """async () => {
            const form = document.getElementById("registration-form");
            const body = new FormData(form);
            const post = () => fetch(form.action, {method: "POST", body});
            const both = await Promise.all([post(), post()]);
            const again = await post();
            return [...both, again].map((r) => [r.status, r.redirected, r.url]);
        }"""
    )
    assert [(status, redirected) for status, redirected, _ in answers] == [(200, True)] * 3
    urls = [url for _, _, url in answers]
    assert len(set(urls)) == 1, answers
    corning_id = _id_from(urls[0], REG_URL)
    assert _registration_count(app) == 2
    page.goto(f"{base}/registrations")
    expect(page.locator("tbody tr", has_text="Corning Incorporated")).to_have_count(1)
    expect(page.locator("tbody tr", has_text="Wegmans Food Markets")).to_have_count(1)
    expect(page.get_by_role("link", name=str(corning_id), exact=True)).to_be_visible()
