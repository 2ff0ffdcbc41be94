"""The application factory, configuration, health and cross-cutting responses."""

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from models import JobState, utcnow
from models.db import db


def test_secret_key_required_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_environment_configures_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s3cret-from-env")
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("SMTP_HOST", "mail.example.net")
    monkeypatch.setenv("SMTP_PORT", "2525")
    monkeypatch.setenv("SMTP_STARTTLS", "true")
    monkeypatch.setenv("WEBHOOK_URLS", "https://a.example.com/h, https://b.example.com/h")
    app = create_app()
    assert app.config["SECRET_KEY"] == "s3cret-from-env"
    assert app.config["SMTP_HOST"] == "mail.example.net"
    assert app.config["SMTP_PORT"] == 2525
    assert app.config["SMTP_STARTTLS"] is True
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert len(app.config["WEBHOOK_URLS"]) == 2
    assert "scheduler" not in app.extensions


def test_healthz_reports_database_and_heartbeat(app: Flask, client: FlaskClient) -> None:
    body = client.get("/healthz").get_json()
    assert body["database"] == "ok" and body["scheduler"] is None
    with app.app_context():
        db.session.add(JobState(name="heartbeat", last_run_at=utcnow(), host="h1"))
        db.session.commit()
    body = client.get("/healthz").get_json()
    assert body["scheduler"]["alive"] is True and body["scheduler"]["host"] == "h1"


def test_security_headers_on_every_page(client: FlaskClient) -> None:
    resp = client.get("/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in resp.headers
    secure = client.get("/login", base_url="https://localhost")
    assert "max-age" in secure.headers["Strict-Transport-Security"]


def test_not_found_is_html_for_pages_and_json_for_api(client: FlaskClient) -> None:
    page = client.get("/no-such-page")
    assert page.status_code == 404 and b"<html" in page.data
    api = client.get("/api/v1/no-such-thing", headers={"Authorization": "Bearer x"})
    assert api.status_code in (401, 404)
    assert api.get_json()["error"]["code"] in {"unauthorized", "not_found"}


def test_openapi_document_lists_only_api_routes(client: FlaskClient) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["info"]["title"] == "ChannelGuard API"
    assert all(path.startswith("/api/v1") for path in doc["paths"])
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
