"""Shared pieces of the scheduler process tests: job processes, overdue tickets, queued mail."""

import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from flask import Flask

from models import OutboxMessage, Registration, Ticket, TicketEvent, utcnow
from models.db import db
from models.policy import active_policy
from tests.dbutil import is_postgres_url
from tests.factories import make_district, make_partner, make_user
from tests.reliability.servers import BIN, ROOT, app_env


def job_process(
    name: str, database_url: str, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `flask --app app jobs run NAME` as its own process group."""
    return subprocess.Popen(
        [str(BIN / "flask"), "--app", "app", "jobs", "run", name],
        cwd=ROOT,
        env=app_env(database_url, env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def overdue_tickets(app: Flask, n: int) -> None:
    """Create n open level-1 tickets in two districts, all past their SLA."""
    with app.app_context():
        policy = active_policy(db.session)
        make_district("northeast", "east")
        make_district("southeast", "east")
        make_user("reviewer", level=1, districts=["northeast", "southeast"])
        make_user("reviewer", level=2, region="east", districts=[])
        partner = make_partner("Sweep Partner")
        user = make_user("partner", partner_id=partner.id)
        past = utcnow() - timedelta(days=10)
        db.session.execute(
            sa.insert(Registration.__table__),
            [
                {
                    "party": "partner",
                    "partner_id": partner.id,
                    "submitted_by_id": user.id,
                    "customer_name": f"Sweep Customer {i}",
                    "customer_key": f"n:sweep customer {i}",
                    "district": "northeast" if i % 2 else "southeast",
                    "status": "in_conflict",
                    "workloads": ["exchange"],
                    "policy_version_id": policy.id,
                    "notes": "",
                    "dotnet_early_adoption": False,
                    "submitted_at": past,
                    "updated_at": past,
                }
                for i in range(n)
            ],
        )
        regs = db.session.execute(
            sa.select(Registration.id, Registration.district).order_by(Registration.id)
        ).all()
        db.session.execute(
            sa.insert(Ticket.__table__),
            [
                {
                    "type": "conflict",
                    "rule": "PARTNER_OVERLAP",
                    "status": "open",
                    "level": 1,
                    "district": district,
                    "region": "east",
                    "registration_id": rid,
                    "partner_id": partner.id,
                    "title": f"Ticket {rid}",
                    "opened_at": past,
                    "sla_due_at": past + timedelta(hours=1),
                    "updated_at": past,
                    "breached": False,
                }
                for rid, district in regs
            ],
        )
        db.session.commit()


def named_url(database_url: str, name: str) -> str:
    """Return a job's database URL, named on PostgreSQL so its backend can be watched."""
    if not is_postgres_url(database_url):
        return database_url
    url = sa.engine.make_url(database_url).update_query_dict({"application_name": name})
    return url.render_as_string(hide_password=False)


@contextmanager
def audit_held(database_url: str) -> Iterator[None]:
    """On PostgreSQL, hold a SHARE lock on audit_event, which the sweep writes last.

    The sweep then stops, demonstrably inside its transaction and after it changed tickets, at
    its audit record; without the gate a fast sweep could commit between two polls. SQLite has
    no such gate (its one writer is never made to wait by a reader in WAL mode).
    """
    if not is_postgres_url(database_url):
        yield
        return
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("LOCK TABLE audit_event IN SHARE MODE"))
            yield
            conn.rollback()
    finally:
        engine.dispose()


def levels_and_events(app: Flask) -> tuple[Counter[int], Counter[int]]:
    """Return how many tickets sit at each level, and how many escalation events each has."""
    with app.app_context():
        levels = Counter(db.session.execute(sa.select(Ticket.level)).scalars())
        events = Counter(
            db.session.execute(
                sa.select(TicketEvent.ticket_id).where(TicketEvent.kind == "escalated")
            ).scalars()
        )
        db.session.remove()
    return levels, events


def queue_messages(app: Flask, n: int) -> set[str]:
    """Queue n e-mails; return their Message-IDs."""
    from escalation.notify import enqueue_email

    ids = set()
    with app.app_context():
        for i in range(n):
            msg = enqueue_email(
                db.session,
                event="test.crash",
                template="registration_received",
                subject=f"Message {i}",
                context={"headline": f"Message {i}", "lines": [], "url": "http://localhost/"},
                email=f"reader{i}@example.com",
            )
            assert msg is not None
            ids.add(msg.message_id)
        db.session.commit()
    return ids


def statuses(app: Flask) -> Counter[str]:
    with app.app_context():
        found = Counter(db.session.execute(sa.select(OutboxMessage.status)).scalars())
        db.session.remove()
    return found
