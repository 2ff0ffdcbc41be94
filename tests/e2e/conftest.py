"""Browser journeys: the real app served on loopback, Debian's Chromium, a real SMTP server."""

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test here e2e; without Chromium skip them, except in CI where that fails."""
    have = Path(CHROMIUM).exists() or shutil.which("chromium") is not None
    for item in items:
        if "tests/e2e/" not in str(item.fspath).replace(os.sep, "/"):
            continue
        item.add_marker(pytest.mark.e2e)
        if not have and not os.environ.get("CI"):
            item.add_marker(pytest.mark.skip(reason=f"Chromium not found at {CHROMIUM}"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    """Messages an SMTP server on loopback received."""

    messages: list[Message] = field(default_factory=list)

    def to(self, address: str) -> list[Message]:
        """Return the messages addressed to one recipient."""
        return [m for m in self.messages if address.lower() in (m["To"] or "").lower()]

    def clear(self) -> None:
        """Forget every received message."""
        self.messages.clear()


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.box.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    """Run a real SMTP server on a loopback port for the whole run."""
    from aiosmtpd.controller import Controller

    box = Mailbox()
    port = _free_port()
    controller = Controller(_Handler(box), hostname="127.0.0.1", port=port)
    controller.start()
    yield port, box
    controller.stop()


@dataclass
class LiveServer:
    """The app served over HTTP on loopback."""

    url: str
    app: Flask
    mailbox: Mailbox

    def run_job(self, name: str) -> None:
        """Run a scheduler job now, as the scheduler would."""
        from escalation.jobs import run_job

        run_job(self.app, name)

    def deliver_mail(self) -> Mailbox:
        """Deliver the outbox to the SMTP server and return the mailbox."""
        self.run_job("deliver_outbox")
        return self.mailbox


@pytest.fixture()
def live_server(
    app: Flask, smtp_server: tuple[int, Mailbox], monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveServer]:
    """Serve the app on a free loopback port with mail going to the test SMTP server."""
    port, box = smtp_server
    box.clear()
    http_port = _free_port()
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", port)
    monkeypatch.setitem(app.config, "BASE_URL", f"http://127.0.0.1:{http_port}")
    server: BaseWSGIServer = make_server("127.0.0.1", http_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(f"http://127.0.0.1:{http_port}", app, box)
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Launch Debian's Chromium once for the run."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Any]:
    """Open a fresh browser context (its own cookies) and page at desktop width."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    yield pg
    context.close()


def sign_in(page: Any, base: str, email: str, password: str) -> None:
    """Sign in through the login form and wait for the landing page (fails if refused)."""
    page.goto(f"{base}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: not url.startswith(f"{base}/login"))
    page.wait_for_load_state()


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[Any]:
    """Run axe-core in the page and return violations of the given impacts."""
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [v for v in result if v.get("impact") in impacts]


def screenshot(page: Any, name: str, *, full_page: bool = True) -> None:
    """Save a screenshot for the user guide when SCREENSHOTS=1 (make screenshots)."""
    if os.environ.get("SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


# --- journeys: a small, realistic program to drive -----------------------------------------

# Real companies on the named-account list the journeys start from.
NAMED_ACCOUNTS: list[dict[str, Any]] = [
    {
        "account_id": "SP-PFE",
        "name": "Pfizer",
        "domain": "pfizer.com",
        "segment": "strategic",
        "district": "northeast",
        "pc_count": 88_000,
        "mcs_owner_email": "morgan.owner@mcs.example.com",
    },
    {
        "account_id": "MJ-PRU",
        "name": "Prudential Financial",
        "domain": "prudential.com",
        "segment": "major",
        "district": "northeast",
        "pc_count": 42_000,
        "mcs_owner_email": "morgan.owner@mcs.example.com",
    },
    {
        "account_id": "MJ-HSY",
        "name": "Hershey",
        "domain": "thehersheycompany.com",
        "segment": "major",
        "district": "mid_atlantic",
        "pc_count": 18_000,
        "mcs_owner_email": "riley.owner@mcs.example.com",
    },
]


@dataclass(frozen=True)
class World:
    """The people and accounts of the journeys' program (every user's password is PASSWORD)."""

    admin: str
    reviewer: str
    region_reviewer: str
    national_reviewer: str
    other_reviewer: str
    partner: str
    partner_name: str
    partner_id: int
    mcs: str
    mcs_owner: str
    list_id: int


@pytest.fixture()
def world(app: Flask) -> World:
    """Create districts, reviewers at every level, a partner, MCS sellers and a published list."""
    from conflict import index_cache
    from models.db import db
    from tests.factories import make_district, make_list, make_partner, make_user

    with app.app_context():
        index_cache.clear()
        make_district("northeast", "east")
        make_district("mid_atlantic", "east")
        make_district("great_lakes", "central")
        make_user("admin", email="ops.admin@example.com", name="Program Operations")
        make_user(
            "reviewer",
            email="nora.northeast@example.com",
            name="Nora Northeast",
            level=1,
            districts=["northeast"],
        )
        make_user(
            "reviewer",
            email="gale.lakes@example.com",
            name="Gale Great Lakes",
            level=1,
            districts=["great_lakes"],
        )
        make_user(
            "reviewer",
            email="erin.east@example.com",
            name="Erin East Region",
            level=2,
            region="east",
            districts=["northeast", "mid_atlantic"],
        )
        make_user(
            "reviewer", email="nat.national@example.com", name="Nat National", level=3, districts=[]
        )
        partner = make_partner("Fabrikam Solutions", points=80, district="northeast")
        make_user(
            "partner",
            email="pat@fabrikam.example.com",
            name="Pat Partner",
            partner_id=partner.id,
        )
        make_user("mcs", email="sam.seller@mcs.example.com", name="Sam Seller")
        make_user("mcs", email="morgan.owner@mcs.example.com", name="Morgan Owner")
        lst = make_list(NAMED_ACCOUNTS)
        lst.label = "Named accounts H1"
        db.session.commit()
        return World(
            admin="ops.admin@example.com",
            reviewer="nora.northeast@example.com",
            region_reviewer="erin.east@example.com",
            national_reviewer="nat.national@example.com",
            other_reviewer="gale.lakes@example.com",
            partner="pat@fabrikam.example.com",
            partner_name="Fabrikam Solutions",
            partner_id=int(partner.id or 0),
            mcs="sam.seller@mcs.example.com",
            mcs_owner="morgan.owner@mcs.example.com",
            list_id=int(lst.id or 0),
        )


def mail_parts(message: Message) -> dict[str, str]:
    """Return a received e-mail's decoded bodies by content type (text/plain, text/html)."""
    parts: dict[str, str] = {}
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in ("text/plain", "text/html") and ctype not in parts:
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            parts[ctype] = payload.decode(part.get_content_charset() or "utf-8")
    return parts


def one_mail(box: Mailbox, address: str, subject_contains: str) -> dict[str, str]:
    """Assert exactly one e-mail with this subject reached an address, in text and HTML."""
    found = [m for m in box.to(address) if subject_contains in (m["Subject"] or "")]
    subjects = [m["Subject"] for m in box.to(address)]
    assert len(found) == 1, f"{address}: wanted one {subject_contains!r}, got {subjects}"
    parts = mail_parts(found[0])
    assert set(parts) == {"text/plain", "text/html"}, f"{address}: parts {sorted(parts)}"
    return parts


def fill_registration(page: Any, base: str, **fields: Any) -> None:
    """Open /registrations/new and fill it; keys are field names, workloads a list of values."""
    page.goto(f"{base}/registrations/new")
    labels = {
        "customer_name": "Customer name",
        "customer_domain": "Customer web domain",
        "country": "Country",
        "pc_count": "Number of PCs",
        "estimated_value": "Estimated value (USD)",
        "notes": "Notes",
    }
    for name, label in labels.items():
        if name in fields:
            page.get_by_label(label, exact=True).fill(str(fields[name]))
    if "district" in fields:
        page.get_by_label("District", exact=True).select_option(fields["district"])
    if "solution_stack" in fields:
        page.get_by_label("Solution stack").select_option(fields["solution_stack"])
    for workload in fields.get("workloads", []):
        page.locator(f"input[name='workloads'][value='{workload}']").check()
    if fields.get("dotnet_early_adoption"):
        page.get_by_label("Early .NET adoption").check()


def register_directly(app: Flask, email: str, **data: Any) -> tuple[int, int | None]:
    """Submit a registration through the service as a user; return (registration, ticket) ids."""
    from conflict.schemas import RegistrationCreate
    from conflict.service import submit_registration
    from models import User
    from models.db import db

    with app.app_context():
        sess = db.session()
        user = sess.execute(db.select(User).where(User.email == email)).scalar_one()
        payload = {"workloads": ["exchange"], "country": "US"} | data
        result = submit_registration(sess, RegistrationCreate(**payload), user=user)
        sess.commit()
        ticket_id = result.tickets[0].id if result.tickets else None
        return int(result.registration.id or 0), ticket_id


# --- page checks: title, labels, width, axe ------------------------------------------------

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
OVERFLOW_TOLERANCE = 2  # px: sub-pixel rounding, not a scroll bar's worth

# Unlabelled visible form controls (native label, aria-label or aria-labelledby count).
UNLABELLED_JS = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter((el) => el.type !== 'hidden' && el.type !== 'submit' && el.type !== 'button')
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !(el.labels && [...el.labels].some((l) => l.textContent.trim()))
    && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map((el) => el.outerHTML.slice(0, 120))"""

# Elements wider than the viewport, to say which one overflows.
WIDE_JS = """() => [...document.querySelectorAll('body *')]
  .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 2)
  .slice(0, 5)
  .map((el) => `${el.tagName}.${el.className} ${Math.round(el.getBoundingClientRect().right)}`)"""


def page_problems(page: Any, url: str) -> list[str]:
    """Open a page at the current viewport and return what is wrong with it, in words."""
    problems: list[str] = []
    response = page.goto(url)
    if response is None or response.status != 200:
        return [f"{url}: HTTP {response.status if response else 'no response'}"]
    title = page.title()
    if not title.endswith(" · ChannelGuard") or len(title) <= len(" · ChannelGuard"):
        problems.append(f"{url}: title {title!r}")
    if page.locator("h1").count() != 1:
        problems.append(f"{url}: {page.locator('h1').count()} h1 headings")
    for html in page.evaluate(UNLABELLED_JS):
        problems.append(f"{url}: unlabelled field {html}")
    width = page.viewport_size["width"]
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    if scroll > width + OVERFLOW_TOLERANCE:
        wide = page.evaluate(WIDE_JS)
        problems.append(f"{url} at {width}px: page is {scroll}px wide ({wide})")
    for v in axe_violations(page):
        targets = [n["target"] for n in v["nodes"][:3]]
        problems.append(f"{url} at {width}px: axe {v['id']} ({v['impact']}) on {targets}")
    return problems


def check_pages(page: Any, base: str, paths: list[str], shots: dict[str, str]) -> list[str]:
    """Check each page at desktop and phone width; take the guide's screenshots on the way."""
    problems: list[str] = []
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        for path in paths:
            problems += page_problems(page, base + path)
            if size is PHONE and path in shots:
                screenshot(page, shots[path])
    return problems


def signed_in(browser: Any, base: str, email: str, password: str | None = None) -> Any:
    """Open a fresh browser context at desktop width, signed in as a user."""
    from tests.factories import PASSWORD

    context = browser.new_context(viewport=DESKTOP)
    pg = context.new_page()
    pg.set_default_timeout(10_000)
    sign_in(pg, base, email, password or PASSWORD)
    return pg
