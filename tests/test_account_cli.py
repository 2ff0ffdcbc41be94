"""The account commands `tokens create` and `users create`: checked, stored and audited."""

import sqlalchemy as sa
from flask import Flask

from models import ApiToken, AuditEvent, User
from models.db import db
from tests.factories import make_user


def test_created_token_works_is_hashed_and_audited(app: Flask) -> None:
    with app.app_context():
        user = make_user("partner")
        email, user_id = user.email, user.id
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["tokens", "create", "--email", email.upper()])
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    resp = app.test_client().get(
        "/api/v1/registrations", headers={"Authorization": f"Bearer {secret}"}
    )
    assert resp.status_code == 200
    with app.app_context():
        row = db.session.execute(
            sa.select(ApiToken).where(ApiToken.user_id == user_id)
        ).scalar_one()
        assert row.name == "cli" and row.prefix == secret[:8] and secret not in row.token_hash
        audit = db.session.execute(
            sa.select(AuditEvent).where(AuditEvent.action == "api_token.created")
        ).scalar_one()
        assert audit.actor_id == user_id and audit.object_id == str(row.id)


def test_bad_input_exits_2_and_stores_nothing(app: Flask) -> None:
    with app.app_context():
        disabled = make_user("partner", is_active=False).email
        active = make_user("partner").email
        db.session.commit()
    runner = app.test_cli_runner()
    for args in (
        ["--email", "nobody@example.com"],
        ["--email", disabled],
        ["--email", active, "--name", " "],
        ["--email", active, "--name", "x" * 101],
    ):
        result = runner.invoke(args=["tokens", "create", *args])
        assert result.exit_code == 2, (args, result.output)
        assert "Error:" in result.output
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(ApiToken)).scalar() == 0


def test_users_create_checks_like_the_admin_page_and_audits(app: Flask) -> None:
    from tests.factories import make_district, make_partner

    with app.app_context():
        make_district("northeast", "east")
        org_id = make_partner("Contoso Partners").id
        db.session.commit()
    runner = app.test_cli_runner()
    pw = ["--password", "a long first password"]
    refused = {
        "--partner-id: Choose the partner organisation this user belongs to.": [
            "--role", "partner"],
        "--districts: Unknown district(s): atlantis.": [
            "--role", "reviewer", "--level", "1", "--districts", "atlantis"],
        "--region: A level-2 reviewer covers a region or a set of districts.": [
            "--role", "reviewer", "--level", "2"],
        "--password: Use at least 10 characters.": ["--role", "mcs", "--password", "short"],
    }  # fmt: skip
    for message, args in refused.items():
        result = runner.invoke(args=["users", "create", "--email", "p@example.com", *pw, *args])
        assert result.exit_code == 2 and message in result.output, result.output
    made = runner.invoke(
        args=["users", "create", "--email", "Lead@Example.com", *pw, "--role", "partner",
              "--partner-id", str(org_id)]
    )  # fmt: skip
    assert made.exit_code == 0 and "Created partner lead@example.com" in made.output
    regional = runner.invoke(
        args=["users", "create", "--email", "r2@example.com", *pw, "--role", "reviewer",
              "--level", "2", "--region", "east"]
    )  # fmt: skip
    assert regional.exit_code == 0, regional.output
    with app.app_context():
        actions = db.session.execute(
            sa.select(AuditEvent.actor_id).where(AuditEvent.action == "user.created")
        ).all()
        assert len(actions) == 2 and all(a.actor_id is None for a in actions)
        assert (
            db.session.execute(
                sa.select(User.region).where(User.email == "r2@example.com")
            ).scalar()
            == "east"
        )
