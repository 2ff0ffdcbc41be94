"""Demo data: real names, every registration state and ticket level, documented sign-ins."""

import sqlalchemy as sa
from flask import Flask

from models import NamedAccount, NamedAccountList, Partner, Registration, Ticket, User
from models.db import db
from tests.factories import csrf_from


def test_demo_data_fills_every_page(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    assert "admin@example.com" in result.output and "channelguard-demo" in result.output
    with app.app_context():
        lst = db.session.execute(sa.select(NamedAccountList)).scalar_one()
        assert lst.status == "published" and lst.account_count == 1000
        assert (
            db.session.execute(sa.select(sa.func.count()).select_from(NamedAccount)).scalar()
            == 1000
        )
        partners = db.session.execute(sa.select(Partner)).scalars().all()
        assert len(partners) == 30
        assert {p.tier for p in partners} == {"registered", "certified", "gold"}
        assert all(p.technical_coordinator_id for p in partners if p.tier == "gold")
        roles = set(db.session.execute(sa.select(User.role)).scalars())
        assert roles == {"admin", "reviewer", "mcs", "partner"}
        statuses = set(db.session.execute(sa.select(Registration.status)).scalars())
        assert statuses >= {
            "approved",
            "in_conflict",
            "in_exception_review",
            "rejected",
            "expired",
            "withdrawn",
        }
        tickets = db.session.execute(sa.select(Ticket)).scalars().all()
        assert {t.level for t in tickets} == {1, 2, 3}
        assert {t.status for t in tickets} == {"open", "in_review", "decided"}
        assert {t.type for t in tickets} == {"conflict", "exception"}
        assert any(t.breached for t in tickets)
    again = runner.invoke(args=["demo-data", "--if-empty"])
    assert again.exit_code == 0 and "not loaded" in again.output
    assert runner.invoke(args=["demo-data"]).exit_code == 2
    client = app.test_client()
    page = client.get("/login")
    resp = client.post(
        "/login",
        data={
            "email": "reviewer.northeast@example.com",
            "password": "channelguard-demo",
            "csrf_token": csrf_from(page.get_data(as_text=True)),
        },
    )
    assert resp.headers["Location"] == "/queue"
    assert client.get("/queue").status_code == 200
