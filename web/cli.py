"""flask commands: users, tokens and demo data."""

import sys

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from demo.loader import (
    DEMO_PASSWORD,
    DemoLogin,
    demo_logins,
    is_empty,
    load_named_accounts,
    load_people,
)
from models import User
from models.db import db, write_intent
from models.user import ROLES
from web import profile
from web.accounts import AccountData, AccountError, create_account

users_cli = AppGroup("users", help="Manage user accounts.")
tokens_cli = AppGroup("tokens", help="Manage API bearer tokens.")


# Account fields as the command's options name them.
OPTIONS = {"partner_id": "partner-id"}


def fail(message: str) -> None:
    """Print an error and exit with status 2 (bad input)."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(2)


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option("--name", default="")
@click.option("--partner-id", type=int)
@click.option("--districts", default="", help="Comma-separated district codes (reviewers).")
@click.option("--level", type=click.IntRange(1, 3))
@click.option("--region", default=None, help="The region a level-2 reviewer covers.")
def create_user(
    email: str,
    password: str,
    role: str,
    name: str,
    partner_id: int | None,
    districts: str,
    level: int | None,
    region: str | None,
) -> None:
    """Create a user account."""
    data = AccountData(
        email=email,
        role=role,
        name=name,
        partner_id=partner_id,
        level=level,
        districts=[d.strip() for d in districts.split(",") if d.strip()],
        region=region,
        password=password,
    )
    sess = db.session
    try:
        with write_intent():
            user = create_account(sess, data, actor=None)
            sess.commit()
    except AccountError as exc:
        sess.rollback()
        fail("; ".join(f"--{OPTIONS.get(k, k)}: {v}" for k, v in exc.errors.items()))
        return
    click.echo(f"Created {user.role} {user.email} (id {user.id})")


@tokens_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", default="cli")
def create_token(email: str, name: str) -> None:
    """Create a bearer token for a user and print it once."""
    sess = db.session
    user = sess.execute(sa.select(User).where(User.email == email.lower())).scalar_one_or_none()
    if user is None or not user.is_active:
        fail(f"no active user with e-mail {email}")
        return
    if not name.strip() or len(name.strip()) > 100:
        fail("--name must be 1 to 100 characters")
        return
    with write_intent():
        # The same path as the profile page, so a token made here is audited like any other.
        _row, token = profile.create_token(sess, user, name)
        sess.commit()
    click.echo(token)


@click.command("demo-data")
@with_appcontext
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def demo_data(if_empty: bool) -> None:
    """Load the demo program: list, partners, users, registrations and tickets."""
    sess = db.session
    if not is_empty(sess):
        if if_empty:
            click.echo("Database already has data; demo data not loaded.")
            print_logins(demo_logins(sess))
            return
        fail("the database already has data; demo data loads only into an empty database")
    with write_intent():
        load_people(sess)
        admin = sess.execute(sa.select(User).where(User.role == "admin")).scalars().first()
        load_named_accounts(sess, admin.id if admin else None)
        from demo.activity import load_activity

        summary = load_activity(sess)
        sess.commit()
    click.echo(f"Demo data loaded: {summary}.")
    print_logins(demo_logins(sess))


def print_logins(logins: list[DemoLogin]) -> None:
    """Print the demo sign-ins."""
    click.echo(f"\nDemo sign-ins (password for all: {DEMO_PASSWORD}):")
    for login in logins:
        click.echo(f"  {login.role:<9} {login.email:<48} {login.note}")


def init_app(app: Flask) -> None:
    """Register the commands."""
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(demo_data)
