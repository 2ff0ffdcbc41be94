"""The application factory: configuration, extensions, blueprints, commands and scheduler."""

import logging
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import config


def _trust_proxies(app: Flask) -> None:
    """Take the client's address and scheme from the X-Forwarded-* headers of trusted proxies."""
    hops = int(app.config.get("TRUSTED_PROXY_HOPS") or 0)
    if hops < 0:
        raise RuntimeError("TRUSTED_PROXY_HOPS must be 0 or more")
    if hops:
        # Behind a load balancer every request comes from its address over plain HTTP: without
        # this, login throttling and API limits would count all clients as one, and HSTS and
        # secure redirects would never apply.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops
        )


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build a configured ChannelGuard application."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(config.from_env(app.instance_path))
    if overrides:
        app.config.update(overrides)
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError(
            "SECRET_KEY must be set outside development (export SECRET_KEY or APP_ENV=development)"
        )
    _trust_proxies(app)
    logging.basicConfig(
        level=app.config["LOG_LEVEL"],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    from models import db as database
    from web import auth, errors, security, templating

    database.init_app(app)
    security.init_app(app)
    templating.init_app(app)
    auth.init_app(app)
    errors.init_app(app)

    from conflict import api as conflict_api
    from conflict import cli as conflict_cli
    from conflict import list_cli, list_views
    from conflict import views as conflict_views
    from escalation import api as escalation_api
    from escalation import cli as escalation_cli
    from escalation import ops_views, scheduler
    from escalation import views as escalation_views
    from web import admin, api_base, cli, health, home

    home.init_app(app)
    health.init_app(app)
    api_base.init_app(app)
    conflict_views.init_app(app)
    conflict_api.init_app(app)
    list_views.init_app(app)
    escalation_views.init_app(app)
    escalation_api.init_app(app)
    ops_views.init_app(app)
    admin.init_app(app)
    cli.init_app(app)
    conflict_cli.init_app(app)
    list_cli.init_app(app)
    escalation_cli.init_app(app)
    api_base.finalize(app)
    scheduler.init_app(app)
    return app
