"""Values read once per transaction: reused inside it, read again in the next, dropped on demand."""

from flask import Flask

from escalation.notify import enabled_endpoints
from escalation.webhooks import add_endpoint, set_enabled
from models import PolicyVersion
from models.base import forget_per_transaction, per_transaction
from models.db import db
from models.policy import active_policy


def test_a_value_is_built_once_per_transaction(ctx: Flask) -> None:
    builds: list[int] = []

    def build() -> int:
        builds.append(1)
        return len(builds)

    db.session.execute(db.select(PolicyVersion.id))  # begin the transaction
    assert per_transaction(db.session, "k", build) == 1
    assert per_transaction(db.session, "k", build) == 1
    forget_per_transaction(db.session, "k")
    assert per_transaction(db.session, "k", build) == 2
    db.session.commit()
    assert per_transaction(db.session, "k", build) == 3
    db.session.rollback()
    assert per_transaction(db.session, "k", build) == 4
    assert builds == [1, 1, 1, 1]


def test_the_active_policy_is_read_again_after_a_commit(ctx: Flask) -> None:
    first = active_policy(db.session)
    assert active_policy(db.session) is first
    first.active = False
    db.session.flush()
    db.session.add(PolicyVersion(version=first.version + 1, data=first.data, active=True))
    db.session.commit()
    assert active_policy(db.session).version == first.version + 1


def test_endpoints_added_or_disabled_in_a_transaction_are_seen_by_it(ctx: Flask) -> None:
    assert enabled_endpoints(db.session) == []
    endpoint = add_endpoint(db.session, "https://hooks.example.com/cg", check=False)
    assert [e.id for e in enabled_endpoints(db.session)] == [endpoint.id]
    set_enabled(db.session, endpoint, False, "paused")
    db.session.flush()
    assert enabled_endpoints(db.session) == []
