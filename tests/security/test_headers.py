"""Security headers on pages, errors and the API: CSP without inline script, HSTS over HTTPS only,
no MIME sniffing, no framing."""

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.security.world import build_world, signed_in

PAGES = ["/login", "/registrations", "/registrations/new", "/profile", "/no-such-page"]


def _directives(csp: str) -> dict[str, list[str]]:
    """Split a Content-Security-Policy into its directives."""
    out: dict[str, list[str]] = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = [w.lower() for w in words[1:]]
    return out


def _assert_common(resp: object, where: str) -> None:
    headers = resp.headers  # type: ignore[attr-defined]
    csp = _directives(headers.get("Content-Security-Policy", ""))
    scripts = csp.get("script-src", csp.get("default-src"))
    assert scripts is not None, f"{where}: no script policy"
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, where
    assert "*" not in scripts and "data:" not in scripts, where
    assert csp.get("object-src") == ["'none'"], where
    assert csp.get("frame-ancestors") == ["'none'"], where
    assert csp.get("base-uri") == ["'self'"], where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("Referrer-Policy") in ("same-origin", "strict-origin-when-cross-origin")


@pytest.fixture()
def partner(app: Flask) -> FlaskClient:
    world = build_world(app)
    return signed_in(app, world.emails["partner"])


def test_headers_on_pages_over_http(partner: FlaskClient) -> None:
    """Every kind of answer carries the headers; HSTS is not sent over plain HTTP."""
    for path in PAGES:
        resp = partner.get(path)
        _assert_common(resp, path)
        assert "Strict-Transport-Security" not in resp.headers, path


def test_hsts_over_https(app: Flask) -> None:
    """Over HTTPS every answer asks the browser to stay on HTTPS for a year."""
    client = app.test_client()
    for path in ["/login", "/healthz", "/api/v1/registrations", "/no-such-page"]:
        resp = client.get(path, base_url="https://localhost")
        _assert_common(resp, path)
        hsts = resp.headers.get("Strict-Transport-Security", "")
        assert "max-age=" in hsts, path
        assert int(hsts.split("max-age=")[1].split(";")[0]) >= 31_536_000, path


def test_headers_on_api_and_errors(app: Flask) -> None:
    """JSON answers, 401s and 405s are protected the same way."""
    client = app.test_client()
    for resp, where in [
        (client.get("/api/v1/registrations"), "api 401"),
        (client.get("/api/v1/openapi.json"), "openapi"),
        (client.put("/login"), "405"),
        (client.get("/healthz"), "health"),
    ]:
        _assert_common(resp, where)


def test_pages_carry_no_inline_script(partner: FlaskClient) -> None:
    """The policy can forbid inline script because the pages use none."""
    for path in PAGES:
        html = partner.get(path).get_data(as_text=True).lower()
        assert "<script>" not in html and " onclick=" not in html and "javascript:" not in html


def test_what_a_signed_in_person_sees_is_never_cached(app: Flask, partner: FlaskClient) -> None:
    """Signed-in pages and token calls say no-store; public assets may still be cached."""
    for path in ["/registrations", "/queue", "/profile", "/no-such-page", "/accounts/lookup"]:
        assert partner.get(path).headers.get("Cache-Control") == "no-store", path
    assert "no-store" not in partner.get("/static/css/app.css").headers.get("Cache-Control", "")
    anonymous = app.test_client()
    assert "no-store" not in anonymous.get("/healthz").headers.get("Cache-Control", "")
    api = anonymous.get("/api/v1/registrations", headers={"Authorization": "Bearer cg_x"})
    assert api.headers.get("Cache-Control") == "no-store"
