"""Benchmark re-checking every open registration when a new named-account list is published.

Run: ``python -m bench recheck`` or ``python -m bench.recheck [--registrations N] [--list-size N]
[--changed N] [--sample N]``.

Data, in a throw-away PostgreSQL database migrated by the app's migrations (see bench.fixtures
for where the names come from):

* list version 1: 10,000 accounts (the demo's 1,000 real accounts, then real company names from
  ``../shared/data``, topped up with synthetic names); version 2 drops 500 random accounts of
  version 1 and adds 500 new ones;
* 1,500 open partner registrations on version 1 accounts (1,000 on accounts that stay, 500 on
  accounts version 2 drops, each named as a partner would type it: legal form swapped, dropped
  or upper-cased) are loaded by COPY, then version 1 is published through
  ``conflict.lists.publish``, so their conflicts, findings and tickets are the product's own;
* then 98,500 more open registrations by COPY: 500 on the accounts version 2 adds, the rest on
  customers kept off both lists (real company names first, then synthetic ones), about four
  partners per customer, spread over 40 partners and 8 districts. Customers that merely resemble
  an account of either version are left out of these (the match index of both versions is asked
  once per name while building): in a live system their review findings would already exist
  from submission, and loading them bare would make the re-check open a review ticket for each
  as if it were new.

Measured: ``conflict.lists.publish`` of version 2 plus the commit (supersede, diff, notify, open
district reviews, and the re-check of every open partner registration, which opens a ticket per
new conflict and releases findings that no longer hold).

Baseline, in the same run against the same published list: the naive re-check that runs the full
per-registration check (``conflict.service.check_registration``: policy, district, an engagement
query and every rule) for each registration loaded one by one, on a random sample of 2,000
registrations, extrapolated to all of them. It writes nothing, so it is a lower bound on a naive
re-check that also stored what changed.
"""

import argparse
import random
import time
from datetime import timedelta
from typing import Any

from bench.common import print_table, ratio
from bench.fixtures import (
    REGISTRATION_COLUMNS,
    Names,
    base_url,
    bench_database,
    build_names,
    copy_rows,
    machine_note,
    pg_unreachable,
    registration_rows,
    seed_people,
    store_list,
    today,
)
from bench.matching import legal_variant

SEED = 20240602


def _unmatched(names: list[str], accounts: list[Any]) -> list[str]:
    """Return the names that match no account at all, not even for review."""
    from conflict.matching import AccountIndex

    index = AccountIndex.build([a.to_account(i + 1) for i, a in enumerate(accounts)], 1)
    return [n for n in names if not index.match(n)]


def _registrations_on(accounts: list[Any], rng: random.Random) -> list[str]:
    return [legal_variant(a.name, rng) for a in accounts]


def main(argv: list[str] | None = None) -> int:
    """Build the data, time the publish with its re-check and the naive baseline, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--registrations", type=int, default=100_000)
    parser.add_argument("--list-size", type=int, default=10_000)
    parser.add_argument("--changed", type=int, default=500)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--customers", type=int, default=30_000, help="unlisted names to try")
    args = parser.parse_args(argv)
    reason = pg_unreachable(base_url())
    if reason:
        print(f"recheck skipped: PostgreSQL is not reachable at {base_url()} ({reason})")
        return 0

    import sqlalchemy as sa

    from conflict.lists import publish
    from models import NamedAccountList, utcnow
    from models.db import session as db_session

    rng = random.Random(SEED)
    started = time.perf_counter()
    names: Names = build_names(args.list_size + args.changed, args.customers)
    v1 = names.accounts[: args.list_size]
    added = names.accounts[args.list_size :]
    # The demo's first accounts are the best known; drops come from anywhere in the list.
    removed_idx = set(rng.sample(range(len(v1)), args.changed))
    removed = [a for i, a in enumerate(v1) if i in removed_idx]
    kept = [a for i, a in enumerate(v1) if i not in removed_idx]
    v2 = kept + added
    on_kept = _registrations_on(rng.sample(kept, 2 * args.changed), rng)
    on_removed = _registrations_on(removed, rng)
    on_added = _registrations_on(added, rng)
    rest = args.registrations - len(on_kept) - len(on_removed) - len(on_added)
    clean = _unmatched(names.unlisted, names.accounts)
    unlisted = [clean[i % len(clean)] for i in range(rest)]
    phase_b = on_added + unlisted
    rng.shuffle(phase_b)

    with bench_database() as bench, bench.app.app_context():
        sess = db_session()
        now = utcnow()
        people = seed_people(sess)
        list1 = store_list(sess, v1, actor_id=people.admin_id, label="Bench list v1")
        sess.commit()
        with bench.connect() as conn:
            copy_rows(
                conn,
                "registration",
                REGISTRATION_COLUMNS,
                registration_rows(on_kept + on_removed, people, now=now - timedelta(days=1)),
            )
            conn.commit()
        t = time.perf_counter()
        first = publish(sess, list1, effective_from=today(), actor_id=people.admin_id)
        sess.commit()
        first_s = time.perf_counter() - t
        with bench.connect() as conn:
            copy_rows(
                conn,
                "registration",
                REGISTRATION_COLUMNS,
                registration_rows(phase_b, people, now=now, list_version_id=list1.id, seed=SEED),
            )
            conn.commit()
            conn.autocommit = True
            for table in ("registration", "conflict_finding", "ticket"):
                conn.execute(f'VACUUM ANALYZE "{table}"')
        t = time.perf_counter()
        list2 = store_list(sess, v2, actor_id=people.admin_id, label="Bench list v2")
        sess.commit()
        store_s = time.perf_counter() - t
        build_s = time.perf_counter() - started
        print(
            f"data: list v1 {len(v1):,} accounts, v2 {len(v2):,} (-{len(removed)} +{len(added)}); "
            f"{args.registrations:,} open registrations ({len(clean):,} unlisted customers); "
            f"built in {build_s:.1f} s "
            f"(publishing v1 over the first {len(on_kept) + len(on_removed):,} took "
            f"{first_s:.1f} s, {len(first.recheck.new_conflicts) if first.recheck else 0:,} "
            "conflicts)"
        )

        list2_id = list2.id
        sess.expunge_all()
        print(f"machine before the run: {machine_note()}")
        list2 = sess.get(NamedAccountList, list2_id)
        assert list2 is not None
        t = time.perf_counter()
        result = publish(sess, list2, effective_from=today(), actor_id=people.admin_id)
        sess.commit()
        ours_s = time.perf_counter() - t
        summary = result.recheck
        checked = summary.checked if summary else 0
        new_conflicts = len(summary.new_conflicts) if summary else 0
        released = len(summary.released) if summary else 0
        by_rule = sess.execute(
            sa.text(
                "SELECT rule, count(*) FROM conflict_finding WHERE list_version_id = :v "
                "GROUP BY rule ORDER BY rule"
            ),
            {"v": list2_id},
        ).all()
        sess.expunge_all()

        sample_s, sampled, outcomes = _naive(sess, args.sample)
        naive_total = sample_s / sampled * checked if sampled else None
        ours_rate = checked / ours_s if ours_s else None
        naive_rate = sampled / sample_s if sample_s else None
        rows: list[list[Any]] = [
            ["registrations checked", checked, sampled, None],
            ["total time (s)", ours_s, naive_total, ratio(naive_total, ours_s)],
            [
                "registrations / s",
                ours_rate,
                naive_rate,
                ratio(ours_rate, naive_rate) if naive_rate else None,
            ],
            [
                f"registrations newly in conflict ({len(on_added)} on added accounts)",
                new_conflicts,
                None,
                None,
            ],
            [
                f"registrations released ({len(on_removed)} on dropped accounts)",
                released,
                None,
                None,
            ],
        ]
        print_table(
            f"Publish list v2 and re-check {checked:,} open registrations (target: within a "
            f"minute); naive baseline on a random sample of {sampled:,}, extrapolated to "
            f"{checked:,}; storing v2 by COPY took {store_s:.1f} s (not in the figures)",
            ["measure", "publish + re-check", "naive per-registration", "naive/ours"],
            rows,
        )
        print("findings made under v2: " + ", ".join(f"{r} {n:,}" for r, n in by_rule))
        print(f"machine after the run: {machine_note()}")
        print(
            "naive outcomes on the sample: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items()))
        )
        sess.rollback()
    return 0


def _naive(sess: Any, sample: int) -> tuple[float, int, dict[str, int]]:
    """Check a random sample one registration at a time; return (seconds, count, outcomes)."""
    import sqlalchemy as sa

    from conflict.schemas import RegistrationCreate
    from conflict.service import check_registration
    from models import Registration, User
    from models.registration import OPEN_STATUSES

    r = Registration.__table__.c  # type: ignore[attr-defined]
    ids = list(
        sess.execute(
            sa.select(r.id).where(r.status.in_(OPEN_STATUSES), r.party == "partner")
        ).scalars()
    )
    chosen = random.Random(SEED).sample(ids, min(sample, len(ids)))
    outcomes: dict[str, int] = {}
    start = time.perf_counter()
    for reg_id in chosen:
        reg = sess.get(Registration, reg_id)
        user = sess.get(User, reg.submitted_by_id)
        data = RegistrationCreate(
            customer_name=reg.customer_name,
            customer_domain=reg.customer_domain,
            district=reg.district,
            country=reg.country,
            pc_count=reg.pc_count,
            workloads=reg.workloads,
            solution_stack=reg.solution_stack,
            dotnet_early_adoption=reg.dotnet_early_adoption,
            estimated_value=reg.estimated_value,
            expected_close_date=reg.expected_close_date,
            infrastructure_maturity=reg.infrastructure_maturity,
            notes=reg.notes,
            party="partner",
        )
        decision = check_registration(sess, data, user=user)
        outcomes[str(decision.outcome)] = outcomes.get(str(decision.outcome), 0) + 1
    elapsed = time.perf_counter() - start
    sess.rollback()
    return elapsed, len(chosen), outcomes


if __name__ == "__main__":
    raise SystemExit(main())
