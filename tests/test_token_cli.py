"""`flask tokens create`: prints a working token once, stores only its hash, and audits it."""

import sqlalchemy as sa
from flask import Flask

from models import ApiToken, AuditEvent
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
