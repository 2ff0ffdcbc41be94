"""flask jobs run NAME / jobs list, flask scheduler run, and flask webhooks add / list."""

import sys

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

from escalation import scheduler as clock
from escalation.jobs import JOBS, run_job
from escalation.webhooks import (
    UnknownEvent,
    UnresolvableURL,
    UnsafeURL,
    add_endpoint,
    parse_events,
)
from models import JobState, WebhookEndpoint
from models.db import db, write_intent
from models.webhook import WEBHOOK_EVENTS

jobs_cli = AppGroup("jobs", help="Run and list the scheduled jobs.")
scheduler_cli = AppGroup("scheduler", help="Run the job scheduler.")
webhooks_cli = AppGroup("webhooks", help="Manage webhook endpoints.")


@jobs_cli.command("run")
@click.argument("name")
def run_command(name: str) -> None:
    """Run one job now and print what it did (exit 1 when it failed)."""
    if name not in JOBS:
        click.echo(f"Error: unknown job {name!r}; choose from {', '.join(JOBS)}", err=True)
        sys.exit(2)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    clock.stop(app)
    run = run_job(app, name)
    if run.error:
        click.echo(f"{name}: failed after {run.items} items: {run.error}", err=True)
        sys.exit(1)
    click.echo(f"{name}: {run.items} items")


@jobs_cli.command("list")
def list_command() -> None:
    """List the jobs with their schedule and last success."""
    states = {s.name: s for s in db.session.execute(sa.select(JobState)).scalars()}
    for name, spec in JOBS.items():
        state = states.get(name)
        last = state.last_success_at.isoformat() if state and state.last_success_at else "never"
        click.echo(f"{name:<24} {spec.trigger.describe():<24} last success: {last}")
        click.echo(f"{'':<24} {spec.description}")


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Run the scheduler in the foreground (its own process) until interrupted."""
    clock.run_forever(current_app._get_current_object())  # type: ignore[attr-defined]


@webhooks_cli.command("add")
@click.argument("url")
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow a host on a private, loopback or link-local address (trusted receivers only).",
)
@click.option(
    "--events",
    default="",
    help=f"Comma-separated event types ({', '.join(WEBHOOK_EVENTS)}); empty means all.",
)
def webhooks_add(url: str, allow_private: bool, events: str) -> None:
    """Add a webhook endpoint and print its signing secret (shown only here)."""
    with write_intent():
        try:
            endpoint = add_endpoint(
                db.session, url, allow_private=allow_private, events=parse_events(events)
            )
        except (UnsafeURL, UnresolvableURL, UnknownEvent) as exc:
            db.session.rollback()
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        db.session.commit()
    click.echo(f"endpoint {endpoint.id}: {endpoint.url}")
    click.echo(f"events: {', '.join(endpoint.events) or 'all'}")
    click.echo(f"secret: {endpoint.secret}")


@webhooks_cli.command("list")
def webhooks_list() -> None:
    """List webhook endpoints and their state."""
    rows = db.session.execute(sa.select(WebhookEndpoint).order_by(WebhookEndpoint.id)).scalars()
    for ep in rows:
        state = "enabled" if ep.enabled else f"disabled ({ep.disabled_reason or 'by an admin'})"
        events = ", ".join(ep.events) or "all events"
        private = " private-allowed" if ep.allow_private else ""
        click.echo(f"{ep.id:>4} {ep.url} [{events}] {state}{private}")


@webhooks_cli.command("secret")
@click.argument("endpoint_id", type=int)
def webhooks_secret(endpoint_id: int) -> None:
    """Print an endpoint's signing secret (for endpoints added from WEBHOOK_URLS)."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        click.echo(f"Error: no webhook endpoint {endpoint_id}", err=True)
        sys.exit(2)
    click.echo(endpoint.secret)


def init_app(app: Flask) -> None:
    """Register the scheduler commands."""
    app.cli.add_command(jobs_cli)
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(webhooks_cli)
