"""The webhook address guard: every resolved address checked, and the connection made to the
address that was checked, so a name that resolves differently a moment later (DNS rebinding)
cannot reach a private address. Real servers on loopback; a resolver that changes its answer."""

import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from escalation import url_guard
from escalation.url_guard import UnsafeURL, checked_addresses
from tests.escalation.test_webhooks import HttpServer, deliver, endpoint, event, rows

NAME = "hooks.rebind.test"
# Stands in for a public address in these tests: loopback, so the test needs no network.
PUBLIC = "127.0.0.2"
INTERNAL = "127.0.0.1"

real_getaddrinfo = socket.getaddrinfo


def answer(address: str, port: int) -> list[Any]:
    """Return a getaddrinfo answer with one address."""
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


Resolver = Callable[[dict[str, list[str]]], list[str]]


@pytest.fixture()
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    """Make names resolve to the given addresses in turn (the last one from then on).

    Returns the addresses handed out for those names; PUBLIC passes the guard as public.
    """
    handed: list[str] = []

    def install(answers: dict[str, list[str]]) -> list[str]:
        queues = {name: list(addresses) for name, addresses in answers.items()}

        def fake(host: Any, port: Any, *args: Any, **kw: Any) -> list[Any]:
            queue = queues.get(host)
            if queue is None:
                return real_getaddrinfo(host, port, *args, **kw)
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            handed.append(address)
            return answer(address, int(port))

        monkeypatch.setattr(socket, "getaddrinfo", fake)
        return handed

    problem = url_guard._address_problem

    def public_stand_in(ip: Any) -> str | None:
        return None if str(ip) == PUBLIC else problem(ip)

    monkeypatch.setattr(url_guard, "_address_problem", public_stand_in)
    return install


@pytest.fixture()
def twin_servers() -> Iterator[tuple[HttpServer, HttpServer]]:
    """Run an internal server on 127.0.0.1 and a 'public' one on 127.0.0.2, same port."""
    internal = HttpServer(INTERNAL)
    port = internal.server.server_address[1]
    public = HttpServer(PUBLIC, port)
    yield internal, public
    public.close()
    internal.close()


def test_every_address_is_returned_once_in_the_resolvers_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fake(host: str, port: int, *args: Any, **kw: Any) -> list[Any]:
        return answer("93.184.216.34", port) + answer("8.8.4.4", port) + answer("8.8.4.4", port)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    assert checked_addresses("https://hooks.example.com/x") == ["93.184.216.34", "8.8.4.4"]


def test_one_private_address_refuses_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(host: str, port: int, *args: Any, **kw: Any) -> list[Any]:
        return answer("8.8.4.4", port) + answer("10.1.2.3", port)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(UnsafeURL, match=r"private address 10\.1\.2\.3"):
        checked_addresses("https://hooks.example.com/x")


def test_a_name_that_rebinds_to_an_internal_address_reaches_only_the_checked_one(
    ctx: Flask,
    resolver: Resolver,
    twin_servers: tuple[HttpServer, HttpServer],
) -> None:
    internal, public = twin_servers
    port = public.server.server_address[1]
    # Checked: the public address. Asked again a moment later: the internal one.
    handed = resolver({NAME: [PUBLIC, INTERNAL]})
    endpoint(f"http://{NAME}:{port}/hook", allow_private=False, check=False)
    event()

    assert deliver(ctx) == 1

    assert internal.receiver.requests == []
    (req,) = public.receiver.requests
    assert req["path"] == "/hook"
    assert req["headers"]["host"] == f"{NAME}:{port}"
    assert handed == [PUBLIC]  # the name was resolved once, by the guard
    (row,) = rows()
    assert row.status == "sent"


def test_a_name_with_an_internal_address_is_still_refused(
    ctx: Flask,
    resolver: Resolver,
    twin_servers: tuple[HttpServer, HttpServer],
) -> None:
    internal, public = twin_servers
    port = internal.server.server_address[1]
    resolver({NAME: [INTERNAL]})
    endpoint(f"http://{NAME}:{port}/hook", allow_private=False, check=False)
    event()
    deliver(ctx)
    (row,) = rows()
    assert row.status == "dead" and "loopback address 127.0.0.1" in (row.last_error or "")
    assert internal.receiver.requests == [] and public.receiver.requests == []


def test_an_endpoint_allowed_private_addresses_uses_its_name_as_usual(
    ctx: Flask, twin_servers: tuple[HttpServer, HttpServer]
) -> None:
    internal, _public = twin_servers
    port = internal.server.server_address[1]
    endpoint(f"http://localhost:{port}/hook", allow_private=True)
    event()
    assert deliver(ctx) == 1
    (req,) = internal.receiver.requests
    assert req["headers"]["host"] == f"localhost:{port}"


# --- TLS: SNI and the certificate are checked against the name, not the address ------------


@pytest.fixture()
def tls_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[HttpServer, list[Any]]]:
    """Run an HTTPS server on PUBLIC with a self-signed certificate for NAME (openssl needed).

    Webhook sessions trust that certificate and nothing else; the server records the names
    clients ask for (SNI).
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={NAME}",
            "-addext", f"subjectAltName=DNS:{NAME}",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    asked: list[Any] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: asked.append(name)  # type: ignore[assignment,misc,return-value]
    made = url_guard.new_http_session

    def trusting() -> requests.Session:
        http = made()
        http.verify = str(cert)
        return http

    monkeypatch.setattr(url_guard, "new_http_session", trusting)
    server = HttpServer(PUBLIC, tls=context)
    yield server, asked
    server.close()


def test_https_to_the_checked_address_sends_the_name_for_sni_and_checks_the_certificate(
    ctx: Flask, resolver: Resolver, tls_server: tuple[HttpServer, list[Any]]
) -> None:
    server, asked = tls_server
    port = server.server.server_address[1]
    resolver({NAME: [PUBLIC, INTERNAL]})
    endpoint(f"https://{NAME}:{port}/hook", allow_private=False, check=False)
    event()

    assert deliver(ctx) == 1

    assert asked == [NAME]
    (req,) = server.receiver.requests
    assert req["headers"]["host"] == f"{NAME}:{port}"
    (row,) = rows()
    assert row.status == "sent"


def test_a_certificate_for_another_name_is_refused(
    ctx: Flask, resolver: Resolver, tls_server: tuple[HttpServer, list[Any]]
) -> None:
    server, asked = tls_server
    port = server.server.server_address[1]
    other = "other.rebind.test"
    resolver({other: [PUBLIC]})
    endpoint(f"https://{other}:{port}/hook", allow_private=False, check=False)
    event()

    assert deliver(ctx) == 0

    assert asked == [other]
    assert server.receiver.requests == []
    (row,) = rows()
    assert row.status == "pending" and "SSLError" in (row.last_error or "")
