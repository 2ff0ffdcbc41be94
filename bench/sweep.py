"""Benchmark the SLA sweep (escalate every overdue open ticket once) against a per-ticket loop.

Run: ``python -m bench sweep`` or ``python -m bench.sweep [--overdue N] [--sample N]``.

Data, in a throw-away PostgreSQL database migrated by the app's migrations, loaded by COPY
(secondary indexes rebuilt after the load, foreign-key triggers skipped since every reference is
right by construction), then VACUUM ANALYZE:

* 8 districts in 3 regions, 40 partners, 2 level-1 reviewers per district, a level-2 reviewer
  per region, a national reviewer (bench.fixtures.seed_people) and one enabled webhook endpoint
  subscribed to ``ticket.escalated``, so every escalation also queues its webhook message
  (inside the sweep as one fan-out row for the endpoint, see ``escalation.fanout``);
* one registration per open ticket, on real company names (then synthetic ones);
* 100,000 overdue open tickets (due from a minute to three days ago): 58% at level 1, 40% at
  level 2, 2% at level 3 (those are marked breached, not moved); four in five ``open``, one in
  five ``in_review``; 20,000 open tickets not yet due; 50,000 decided tickets.

Measured: ``escalation.service.escalate_overdue(sess, now)`` once, plus the commit. Afterwards
every open ticket's level before and after is compared (printed as counts), and the webhook
job's later share, turning the fan-out row into one pending message per ticket, is timed
separately.

Baseline, in the same run on the same data: a loop calling ``escalation.service.escalate(sess,
ticket, actor=None, reason=...)`` per ticket on a random sample of 2,000 overdue tickets at
levels 1-2, flushed and then rolled back (so the sweep still finds them), extrapolated to the
number the sweep moved.
"""

import argparse
import random
import time
from datetime import datetime, timedelta
from typing import Any

from bench.common import print_table, ratio
from bench.fixtures import (
    REGISTRATION_COLUMNS,
    TICKET_COLUMNS,
    TicketSpec,
    base_url,
    bench_database,
    build_names,
    copy_rows,
    indexes_deferred,
    machine_note,
    pg_unreachable,
    registration_rows,
    seed_people,
    ticket_rows,
    triggers_deferred,
)

SEED = 20240604


def _load(bench: Any, people: Any, overdue: int, now: datetime) -> int:
    """Load registrations and tickets; return how many tickets were loaded."""
    rng = random.Random(SEED)
    not_due = overdue // 5
    decided = overdue // 2
    open_count = overdue + not_due
    names = build_names(0, 50_000).unlisted
    customers = [names[i % len(names)] for i in range(open_count)]
    with bench.connect() as conn:
        with triggers_deferred(conn):
            with indexes_deferred(conn, "registration"):
                copy_rows(
                    conn,
                    "registration",
                    REGISTRATION_COLUMNS,
                    registration_rows(customers, people, now=now, status="in_conflict"),
                )
            regs = conn.execute("SELECT id, partner_id FROM registration ORDER BY id").fetchall()

            def specs() -> Any:
                for i in range(open_count + decided):
                    reg_id, partner_id = regs[i % len(regs)]
                    district = people.districts[i % len(people.districts)]
                    customer = customers[i % len(customers)]
                    opened = now - timedelta(days=4, minutes=rng.randrange(10_000))
                    if i >= open_count:
                        yield TicketSpec(reg_id, partner_id, customer, district, "decided", 1,
                                         opened + timedelta(hours=16), opened)  # fmt: skip
                        continue
                    r = rng.random()
                    level = 1 if r < 0.58 else 2 if r < 0.98 else 3
                    status = "in_review" if rng.random() < 0.2 else "open"
                    if i < overdue:
                        due = now - timedelta(minutes=rng.randint(1, 3 * 24 * 60))
                    else:
                        level = rng.choice((1, 2, 3))
                        due = now + timedelta(minutes=rng.randint(10, 5 * 24 * 60))
                    yield TicketSpec(reg_id, partner_id, customer, district, status, level, due,
                                     opened)  # fmt: skip

            with indexes_deferred(conn, "ticket"):
                loaded = copy_rows(conn, "ticket", TICKET_COLUMNS, ticket_rows(specs(), people))
        conn.execute(
            "CREATE TABLE bench_before AS SELECT id, level, breached, sla_due_at FROM ticket "
            "WHERE status IN ('open', 'in_review')"
        )
        conn.commit()
        conn.autocommit = True
        for table in ("registration", "ticket", "bench_before"):
            conn.execute(f'VACUUM ANALYZE "{table}"')
    return loaded


def _per_ticket(sess: Any, now: datetime, sample: int) -> tuple[float, int, int]:
    """Escalate a sample one ticket at a time, flush, roll back; return (s, done, errors)."""
    import sqlalchemy as sa

    from escalation import service
    from models import Ticket

    t = Ticket.__table__.c  # type: ignore[attr-defined]
    ids = list(
        sess.execute(
            sa.select(t.id).where(
                t.status.in_(service.OPEN_STATUSES), t.sla_due_at < now, t.level < 3
            )
        ).scalars()
    )
    chosen = random.Random(SEED).sample(ids, min(sample, len(ids)))
    errors = 0
    start = time.perf_counter()
    for ticket_id in chosen:
        ticket = sess.get(Ticket, ticket_id)
        try:
            service.escalate(sess, ticket, actor=None, reason="The SLA ran out.")
        except (service.TicketError, service.InvalidTransition):
            errors += 1
    sess.flush()
    elapsed = time.perf_counter() - start
    sess.rollback()
    return elapsed, len(chosen), errors


def main(argv: list[str] | None = None) -> int:
    """Build the tickets, time the sweep and the per-ticket baseline, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--overdue", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000)
    args = parser.parse_args(argv)
    reason = pg_unreachable(base_url())
    if reason:
        print(f"sweep skipped: PostgreSQL is not reachable at {base_url()} ({reason})")
        return 0

    import sqlalchemy as sa

    from escalation.fanout import expand_fanouts
    from escalation.service import escalate_overdue
    from models import WebhookEndpoint, utcnow
    from models.db import session as db_session

    with bench_database() as bench, bench.app.app_context():
        sess = db_session()
        now = utcnow()
        people = seed_people(sess)
        sess.add(
            WebhookEndpoint(
                url="https://hooks.bench.example/channelguard",
                secret="bench-webhook-secret",  # noqa: S106  a throw-away endpoint's secret
                events=["ticket.escalated"],
            )
        )
        sess.commit()
        started = time.perf_counter()
        loaded = _load(bench, people, args.overdue, now)
        print(f"data: {loaded:,} tickets loaded by COPY and analysed in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip

        print(f"machine before the run: {machine_note()}")
        sweep_at = utcnow()
        base_s, sampled, errors = _per_ticket(sess, sweep_at, args.sample)
        sess.expunge_all()
        start = time.perf_counter()
        moved = escalate_overdue(sess, sweep_at)
        sess.commit()
        ours_s = time.perf_counter() - start

        levels = sess.execute(
            sa.text(
                "SELECT b.level, t.level, b.sla_due_at < :at AS overdue, t.breached, count(*) "
                "FROM bench_before b JOIN ticket t ON t.id = b.id "
                "GROUP BY 1, 2, 3, 4 ORDER BY 3 DESC, 1, 2, 4"
            ),
            {"at": sweep_at},
        ).all()
        by_kind = sa.text("SELECT kind, count(*) FROM ticket_event GROUP BY kind")
        events: dict[str, int] = {k: n for k, n in sess.execute(by_kind).all()}
        fanouts, fanned = sess.execute(
            sa.text(
                "SELECT count(DISTINCT o.id), "
                "coalesce(sum(jsonb_array_length(g->'ticket_ids')), 0) "
                "FROM outbox_message o, jsonb_array_elements(o.context->'groups') g "
                "WHERE o.status = 'fanout' AND o.event = 'ticket.escalated'"
            )
        ).one()
        # The webhook job's share, after the sweep: one pending message per ticket.
        started = time.perf_counter()
        while expand_fanouts(sess, utcnow()):
            sess.commit()
        sess.commit()
        expand_s = time.perf_counter() - started
        hooks = sess.execute(
            sa.text(
                "SELECT count(*) FROM outbox_message WHERE channel = 'webhook' "
                "AND event = 'ticket.escalated' AND status = 'pending'"
            )
        ).scalar_one()

    per_ticket_total = base_s / sampled * moved if sampled else None
    rows: list[list[Any]] = [
        ["tickets moved (escalated or breached)", moved, sampled, None],
        ["time (s)", ours_s, per_ticket_total, ratio(per_ticket_total, ours_s)],
        [
            "tickets / s",
            moved / ours_s if ours_s else None,
            sampled / base_s if base_s else None,
            ratio(moved / ours_s, sampled / base_s) if ours_s and base_s else None,
        ],
    ]
    print_table(
        f"SLA sweep over {args.overdue:,} overdue open tickets (target: < 5 s); per-ticket "
        f"escalate() on a random sample of {sampled:,} ({errors} refused), extrapolated to "
        f"{moved:,}",
        ["measure", "escalate_overdue", "per-ticket escalate()", "per-ticket/sweep"],
        rows,
    )
    print_table(
        "Open tickets before and after the sweep (each overdue ticket should move exactly one "
        "level; overdue level-3 tickets are marked breached instead)",
        ["level before", "level after", "overdue", "breached after", "tickets"],
        [[a, b, "yes" if o else "no", "yes" if br else "no", n] for a, b, o, br, n in levels],
    )
    print(f"machine after the run: {machine_note()}")
    print(
        f"timeline events written: escalated {events.get('escalated', 0):,}, breached "
        f"{events.get('breached', 0):,}; webhook fan-out rows queued: {fanouts:,}, standing "
        f"for {fanned:,} messages"
    )
    print(
        f"webhook job afterwards (not part of the sweep): fan-out expanded into {hooks:,} "
        f"pending messages in {expand_s:.1f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
