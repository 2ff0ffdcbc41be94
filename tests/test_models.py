"""Database invariants: check constraints and partial unique indexes hold on every backend."""

from collections.abc import Callable
from datetime import date

import pytest
import sqlalchemy as sa
from flask import Flask

from models import (
    DporDesignation,
    NamedAccountList,
    OutboxMessage,
    Partner,
    PolicyVersion,
    SeatCredit,
    Ticket,
    User,
    utcnow,
)
from models.db import db
from models.partner import tier_expression, tier_for_points
from tests.factories import make_list, make_partner, make_registration, make_ticket, make_user


def _violates(build: Callable[[], object]) -> None:
    with pytest.raises(sa.exc.IntegrityError):
        db.session.add(build())
        db.session.flush()
    db.session.rollback()


@pytest.mark.parametrize(
    ("points", "tier"),
    [
        (0, "registered"),
        (49, "registered"),
        (50, "certified"),
        (119, "certified"),
        (120, "gold"),
        (500, "gold"),
    ],
)
def test_tier_from_points(points: int, tier: str) -> None:
    assert tier_for_points(points) == tier


def test_tier_expression_matches_python(ctx: Flask) -> None:
    for pts in (10, 50, 120):
        make_partner(points=pts)
    rows = db.session.execute(sa.select(Partner.points, tier_expression(Partner.points))).all()
    assert all(tier_for_points(p) == t for p, t in rows)


def test_user_role_constraints(ctx: Flask) -> None:
    _violates(lambda: User(email="x@example.com", role="boss", password_hash="h"))
    _violates(lambda: User(email="p@example.com", role="partner", password_hash="h"))
    _violates(lambda: User(email="r@example.com", role="reviewer", password_hash="h"))
    make_user("reviewer", level=2)
    make_user("partner")


def test_registration_constraints(ctx: Flask) -> None:
    user = make_user("partner")
    with pytest.raises(sa.exc.IntegrityError):
        make_registration(user, status="bogus")
    db.session.rollback()
    user = make_user("partner")
    with pytest.raises(sa.exc.IntegrityError):
        make_registration(user, status="withdrawn")
    db.session.rollback()
    user = make_user("partner")
    with pytest.raises(sa.exc.IntegrityError):
        make_registration(user, pc_count=-1)
    db.session.rollback()
    user = make_user("partner")
    make_registration(user, idempotency_key="k1")
    with pytest.raises(sa.exc.IntegrityError):
        make_registration(user, idempotency_key="k1")
    db.session.rollback()


def test_one_published_list(ctx: Flask) -> None:
    make_list([{"name": "Contoso"}])
    with pytest.raises(sa.exc.IntegrityError):
        make_list([{"name": "Fabrikam"}])
    db.session.rollback()
    _violates(lambda: NamedAccountList(label="x", status="published", content_hash="h"))


def test_one_active_policy(ctx: Flask) -> None:
    db.session.add(PolicyVersion(version=1, active=True))
    db.session.flush()
    _violates(lambda: PolicyVersion(version=2, active=True))


def test_ticket_invariants(ctx: Flask) -> None:
    reg = make_registration(make_user("partner"))
    make_ticket(reg)
    with pytest.raises(sa.exc.IntegrityError):
        make_ticket(reg)  # a second open ticket for the same rule
    db.session.rollback()
    reg = make_registration(make_user("partner"))
    _violates(lambda: Ticket(rule="X", registration_id=reg.id, level=4))
    reg = make_registration(make_user("partner"))
    _violates(lambda: Ticket(rule="X", registration_id=reg.id, status="decided"))
    reg = make_registration(make_user("partner"))
    _violates(lambda: Ticket(rule="X", registration_id=reg.id, status="in_review"))
    reg = make_registration(make_user("partner"))
    done = make_ticket(
        reg,
        status="decided",
        resolution="rejected",
        rationale="duplicate deal",
        decided_at=utcnow(),
    )
    assert done.id is not None
    make_ticket(reg)  # a decided ticket does not block a new open one


def test_dpor_one_active_per_customer_workload(ctx: Flask) -> None:
    a, b = make_partner(), make_partner()
    db.session.add(
        DporDesignation(
            customer_key="contoso", customer_name="Contoso", workload="exchange", partner_id=a.id
        )
    )
    db.session.flush()
    _violates(
        lambda: DporDesignation(
            customer_key="contoso", customer_name="Contoso", workload="exchange", partner_id=b.id
        )
    )
    c = make_partner()  # the rollback above took the earlier partners with it
    db.session.add(
        DporDesignation(
            customer_key="contoso", customer_name="Contoso", workload="yammer", partner_id=c.id
        )
    )
    db.session.flush()
    assert db.session.query(DporDesignation).count() == 1


def test_seat_credit_and_outbox_vocabularies(ctx: Flask) -> None:
    p = make_partner()
    _violates(
        lambda: SeatCredit(
            partner_id=p.id,
            customer_key="c",
            customer_name="C",
            workload="yammer",
            seats=10,
            source="rumour",
        )
    )
    _violates(
        lambda: SeatCredit(
            partner_id=p.id,
            customer_key="c",
            customer_name="C",
            workload="yammer",
            seats=0,
            source="csp",
        )
    )
    _violates(lambda: OutboxMessage(channel="webhook", event="e", message_id="m1"))
    _violates(lambda: OutboxMessage(event="e", message_id="m2", status="lost"))


def test_datetimes_come_back_aware_utc(ctx: Flask) -> None:
    reg = make_registration(make_user("partner"), expected_close_date=date(2027, 1, 31))
    db.session.commit()
    db.session.expire_all()
    loaded = db.session.get(type(reg), reg.id)
    assert loaded is not None and loaded.submitted_at.tzinfo is not None
    assert loaded.submitted_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
