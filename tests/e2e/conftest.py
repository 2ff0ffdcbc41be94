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
    """Sign in through the login form."""
    page.goto(f"{base}/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[Any]:
    """Run axe-core in the page and return violations of the given impacts."""
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate("async () => (await axe.run(document)).violations")
    return [v for v in result if v.get("impact") in impacts]


def screenshot(page: Any, name: str) -> None:
    """Save a screenshot for the user guide when SCREENSHOTS=1 (make screenshots)."""
    if os.environ.get("SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
