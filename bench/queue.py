"""Benchmark the reviewer queue page over 1,000,000 tickets against OFFSET paging and no index.

Run: ``python -m bench queue`` or ``python -m bench.queue [--tickets N] [--requests N]``.

Data, in a throw-away PostgreSQL database migrated by the app's migrations, loaded by COPY
(secondary indexes dropped during the load and rebuilt from their own definitions after it,
foreign-key triggers skipped since every reference is right by construction), then VACUUM
ANALYZE:

* 8 districts in 3 regions, 40 partners, 2 level-1 reviewers per district, a level-2 reviewer
  per region and a national (level-3) reviewer (bench.fixtures.seed_people);
* 200,000 partner registrations on real company names (then synthetic ones, see bench.fixtures);
* 1,000,000 conflict tickets, spread evenly over the districts, opened one a minute over about
  two years; the latest 125,000 are 80% still open (100,000 open tickets: four in five
  ``open``, one in five ``in_review``; levels 1/2/3 about 80/15/5%; due times from three days
  overdue to five days ahead), every other ticket decided with a resolution.

Measured through the Flask test client with a signed-in reviewer (the real /login form): the
/queue page for a level-1 reviewer of one district (~12,500 open tickets in scope) and for the
national reviewer (every district, 100,000 open tickets), on the first page and on a deep page
(the keyset cursor of the row at that depth, the same cursor the page's "Next page" link
carries; the link itself is followed a few times to check it), p50/p95 over 50 requests each.

Baselines, in the same run and database: (1) the page again with the composite index
``ix_ticket_district_status_due`` dropped, measured in alternating halves with the indexed page
(the index is rebuilt from its own definition in between); (2) the listing query alone: the
page's keyset merge (``escalation.queries.keyset_ids``) vs a plain SQL query with
``ORDER BY sla_due_at, id OFFSET k LIMIT 51`` at the same depth. A third table splits the page's
time into its rows (``queue_page`` without facet counts) and its facet counts (``queue_counts``),
as the page gets them (cached per scope for ``QUEUE_COUNTS_TTL_SECONDS``) and uncached. A last
table times one registration's page with and without the second-registration index
(bench.ticket_lookups).
"""

import argparse
import html
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bench.common import percentile, print_table, ratio
from bench.fixtures import (
    PASSWORD,
    REGISTRATION_COLUMNS,
    TICKET_COLUMNS,
    TicketSpec,
    base_url,
    bench_database,
    build_names,
    copy_rows,
    csrf_token,
    indexes_deferred,
    machine_note,
    pg_unreachable,
    registration_rows,
    seed_people,
    ticket_rows,
    triggers_deferred,
)
from bench.ticket_lookups import registration_pages

SEED = 20240603
RECENT = 125_000  # the latest tickets, four in five of them still open
COMPOSITE_INDEX = "ix_ticket_district_status_due"
OPEN_SQL = "status IN ('open', 'in_review')"
_NEXT_LINK = re.compile(r'href="([^"]+)" rel="next"')


@dataclass(frozen=True, slots=True)
class View:
    """One reviewer's view of the queue at one depth."""

    label: str
    email: str
    districts: list[str] | None  # None: every district
    depth: int  # rows before the page; 0 is the first page


def _load(bench: Any, people: Any, tickets: int, registrations: int, now: datetime) -> None:
    rng = random.Random(SEED)
    names = build_names(0, 50_000).unlisted
    customers = [names[i % len(names)] for i in range(registrations)]
    recent = min(tickets, RECENT)
    with bench.connect() as conn:
        with triggers_deferred(conn):
            with indexes_deferred(conn, "registration"):
                copy_rows(
                    conn,
                    "registration",
                    REGISTRATION_COLUMNS,
                    registration_rows(customers, people, now=now, seed=SEED),
                )
            reg_ids = [r[0] for r in conn.execute("SELECT id FROM registration ORDER BY id")]
            partner_of = dict(conn.execute("SELECT id, partner_id FROM registration").fetchall())

            def specs() -> Any:
                start = now - timedelta(minutes=tickets)
                open_seen = 0
                for i in range(tickets):
                    opened = start + timedelta(minutes=i)
                    is_open = i >= tickets - recent and i % 5 != 0
                    district = people.districts[i % len(people.districts)]
                    if is_open:
                        # Open tickets need distinct registrations (one open ticket per rule).
                        reg = reg_ids[open_seen % len(reg_ids)]
                        open_seen += 1
                        r = rng.random()
                        level = 1 if r < 0.8 else 2 if r < 0.95 else 3
                        status = "in_review" if rng.random() < 0.2 else "open"
                        due: datetime | None = now + timedelta(
                            minutes=rng.randint(-3 * 24 * 60, 5 * 24 * 60)
                        )
                    else:
                        reg = reg_ids[rng.randrange(len(reg_ids))]
                        level, status, due = 1, "decided", opened + timedelta(hours=16)
                    yield TicketSpec(
                        reg, partner_of[reg], customers[(reg - reg_ids[0]) % len(customers)],
                        district, status, level, due, opened,
                    )  # fmt: skip

            with indexes_deferred(conn, "ticket"):
                copy_rows(conn, "ticket", TICKET_COLUMNS, ticket_rows(specs(), people))
        conn.commit()
        conn.autocommit = True
        for table in ("registration", "ticket"):
            conn.execute(f'VACUUM ANALYZE "{table}"')


def _cursor_at(sess: Any, districts: list[str] | None, depth: int) -> str | None:
    """Return the queue cursor after depth rows of a scope (what "Next page" links carry)."""
    import sqlalchemy as sa

    from escalation.queries import Cursor

    if depth == 0:
        return None
    where = OPEN_SQL + (" AND district = ANY(:d)" if districts is not None else "")
    row = sess.execute(
        sa.text(
            f"SELECT sla_due_at, id FROM ticket WHERE {where} AND sla_due_at IS NOT NULL "
            "ORDER BY sla_due_at, id OFFSET :k LIMIT 1"
        ),
        {"d": districts, "k": depth - 1},
    ).one()
    return Cursor(row[0], row[1]).encode()


def _timed(fn: Callable[[], Any], n: int) -> list[float]:
    fn()  # one warm-up call: the first request compiles templates and fills caches
    out: list[float] = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def _login(client: Any, email: str) -> None:
    page = client.get("/login")
    if page.status_code != 200:
        raise RuntimeError(f"GET /login answered {page.status_code}")
    token = csrf_token(page.get_data(as_text=True))
    resp = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    if resp.status_code != 302:
        raise RuntimeError(f"login of {email} failed with {resp.status_code}")


def _page_fn(client: Any, url: str) -> Callable[[], Any]:
    def get() -> None:
        resp = client.get(url)
        if resp.status_code != 200:
            raise RuntimeError(f"GET {url} answered {resp.status_code}")

    return get


def _follow_next(client: Any, url: str, times: int) -> int:
    """Follow the page's "Next page" link a few times; return the pages reached."""
    reached = 0
    for _ in range(times):
        found = _NEXT_LINK.search(client.get(url).get_data(as_text=True))
        if not found:
            break
        url = html.unescape(found.group(1))
        reached += 1
    return reached


def _in_process(bench: Any, views: list[View], urls: dict[str, str], n: int) -> dict[str, Any]:
    """Time the listing (keyset and OFFSET), the rows and the facet counts in process."""
    import sqlalchemy as sa

    from escalation.queries import (
        Cursor,
        QueueFilters,
        due_soon_horizon,
        keyset_ids,
        queue_counts,
        queue_districts,
        queue_page,
    )
    from escalation.service import OPEN_STATUSES
    from models import Ticket, User, utcnow
    from models.db import db
    from models.db import session as db_session

    out: dict[str, dict[str, list[float]]] = {
        "keyset": {},
        "offset": {},
        "rows": {},
        "counts": {},
        "counts_fresh": {},
    }
    with bench.app.app_context():
        sess = db_session()
        for v in views:
            user = sess.execute(
                sa.select(User).where(User.email == v.email)  # type: ignore[arg-type]
            ).scalar_one()
            token = urls[v.label].partition("after=")[2] or None
            # The same index ranges escalation.queries merges: one per (district, status).
            scopes: list[str | None] = list(v.districts) if v.districts is not None else [None]
            bases = [
                [Ticket.status == s] if d is None else [Ticket.district == d, Ticket.status == s]
                for d in scopes
                for s in OPEN_STATUSES
            ]

            def keyset(bases: Any = bases, token: str | None = token) -> None:
                keyset_ids(sess, bases, [], Cursor.decode(token), 51)
                sess.rollback()

            where = OPEN_SQL + (" AND district = ANY(:d)" if v.districts is not None else "")
            stmt = sa.text(
                f"SELECT id, sla_due_at FROM ticket WHERE {where} "
                "ORDER BY sla_due_at, id OFFSET :k LIMIT 51"
            )

            def offset(stmt: Any = stmt, v: View = v) -> None:
                sess.execute(stmt, {"d": v.districts, "k": v.depth}).all()
                sess.rollback()

            def rows(user: Any = user, token: str | None = token) -> None:
                queue_page(sess, user, QueueFilters(after=token), utcnow(), with_counts=False)
                sess.rollback()

            def counts(user: Any = user) -> None:
                now = utcnow()
                scope = queue_districts(sess, user)
                queue_counts(sess, user, scope, now, due_soon_horizon(sess, now))
                sess.rollback()

            for name, fn in (("keyset", keyset), ("offset", offset), ("rows", rows)):
                out[name][v.label] = _timed(fn, n)
            out["counts"][v.label] = _timed(counts, n)
            # The facet counts are cached per scope for a while; a cache miss pays this.
            ttl = bench.app.config.get("QUEUE_COUNTS_TTL_SECONDS")
            bench.app.config["QUEUE_COUNTS_TTL_SECONDS"] = 0
            try:
                out["counts_fresh"][v.label] = _timed(counts, n)
            finally:
                if ttl is None:
                    bench.app.config.pop("QUEUE_COUNTS_TTL_SECONDS")
                else:
                    bench.app.config["QUEUE_COUNTS_TTL_SECONDS"] = ttl
        db.session.remove()
    return out


def main(argv: list[str] | None = None) -> int:
    """Build 1M tickets, time the queue page and its baselines, and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--registrations", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args(argv)
    # Each open ticket needs a registration of its own (one open ticket per rule), and the
    # national view is read 50,000 rows deep.
    open_tickets = min(args.tickets, RECENT) * 4 // 5
    if args.registrations < open_tickets or open_tickets < 50_051:
        parser.error(
            f"{args.tickets:,} tickets make {open_tickets:,} open ones: the bench needs at least "
            f"50,051 open tickets and as many registrations (--tickets 63,000 or more, "
            f"--registrations {max(open_tickets, 50_051):,} or more)"
        )
    reason = pg_unreachable(base_url())
    if reason:
        print(f"queue skipped: PostgreSQL is not reachable at {base_url()} ({reason})")
        return 0

    import sqlalchemy as sa

    from models import utcnow
    from models.db import db
    from models.db import session as db_session

    with bench_database() as bench:
        # Test-client requests run outside this app context: inside it they would share one
        # flask.g, and with it the signed-in user Flask-Login caches there.
        with bench.app.app_context():
            sess = db_session()
            now = utcnow()
            people = seed_people(sess)
            sess.commit()
            started = time.perf_counter()
            _load(bench, people, args.tickets, args.registrations, now)
            load_s = time.perf_counter() - started
            open_total = sess.execute(sa.text(f"SELECT count(*) FROM ticket WHERE {OPEN_SQL}"))
            print(
                f"data: {args.tickets:,} tickets ({open_total.scalar_one():,} open) and "
                f"{args.registrations:,} registrations loaded by COPY and analysed in "
                f"{load_s:.1f} s"
            )
            district = people.districts[0]
            in_scope = sess.execute(
                sa.text(f"SELECT count(*) FROM ticket WHERE {OPEN_SQL} AND district = :d"),
                {"d": district},
            ).scalar_one()
            deep = in_scope * 4 // 5
            views = [
                View(f"level 1, {district}: first page", people.level1_email, [district], 0),
                View(f"level 1, {district}: row {deep:,}", people.level1_email, [district], deep),
                View("national, all districts: first page", people.national_email, None, 0),
                View("national, all districts: row 50,000", people.national_email, None, 50_000),
            ]
            reg_ids = list(
                sess.execute(
                    sa.text(
                        f"SELECT registration_id FROM ticket WHERE {OPEN_SQL} "
                        "ORDER BY id DESC LIMIT 20"
                    )
                ).scalars()
            )
            urls = {}
            for v in views:
                cursor = _cursor_at(sess, v.districts, v.depth)
                urls[v.label] = "/queue" + (f"?after={cursor}" if cursor else "")
            db.session.remove()

        clients: dict[str, Any] = {}
        for email in {v.email for v in views}:
            clients[email] = bench.app.test_client()
            _login(clients[email], email)
        print(f"machine before the run: {machine_note()}")
        followed = _follow_next(clients[people.level1_email], "/queue", 3)
        print(f'check: followed the "Next page" link {followed} time(s) from the first page')
        page, no_index = _pages(bench, views, clients, urls, args.requests)
        parts = _in_process(bench, views, urls, args.requests)
        lookups = registration_pages(bench, clients[people.national_email], reg_ids, args.requests)
        print(f"machine after the run: {machine_note()}")

    def ms(values: list[float], q: float) -> float:
        return percentile(values, q) * 1e3

    rows: list[list[Any]] = []
    for v in views:
        p95, n95 = ms(page[v.label], 95), ms(no_index[v.label], 95)
        rows.append([v.label, ms(page[v.label], 50), p95, ms(no_index[v.label], 50), n95,
                     ratio(n95, p95)])  # fmt: skip
    print_table(
        f"/queue page over {args.tickets:,} tickets, ms over {args.requests} requests each "
        f"(target: p95 < 50 ms); baseline: the same page without {COMPOSITE_INDEX} (the two "
        "measured in alternating halves)",
        ["view", "page p50", "page p95", "no-index p50", "no-index p95", "no-index/page p95"],
        rows,
    )
    rows = []
    for v in views:
        k95, o95 = ms(parts["keyset"][v.label], 95), ms(parts["offset"][v.label], 95)
        rows.append([v.label, ms(parts["keyset"][v.label], 50), k95,
                     ms(parts["offset"][v.label], 50), o95, ratio(o95, k95)])  # fmt: skip
    print_table(
        "The listing query alone, ms: the page's keyset merge (escalation.queries.keyset_ids) "
        "vs a plain OFFSET query, both returning the next 51 (id, due) at the same depth",
        ["view", "keyset p50", "keyset p95", "OFFSET p50", "OFFSET p95", "OFFSET/keyset p95"],
        rows,
    )
    rows = [
        [v.label, ms(page[v.label], 50), ms(parts["rows"][v.label], 50),
         ms(parts["counts"][v.label], 50), ms(parts["counts_fresh"][v.label], 50),
         ms(parts["counts_fresh"][v.label], 95)]
        for v in views
    ]  # fmt: skip
    print_table(
        "Where the page's time goes, ms, in process: the whole page (p50) vs its rows "
        "(queue_page without facet counts, p50) and its facet counts (queue_counts) as the page "
        "gets them (cached per scope) and when the cache misses (a GROUP BY over every open "
        "ticket in scope)",
        ["view", "page p50", "rows p50", "counts p50", "uncached counts p50", "uncached p95"],
        rows,
    )
    print_table(*lookups)
    return 0


def _pages(
    bench: Any, views: list[View], clients: dict[str, Any], urls: dict[str, str], n: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Time the pages with and without the composite index, in alternating halves.

    The index is dropped and rebuilt from its own definition between halves, so slow drift on a
    shared machine falls on both columns alike.
    """
    with_index: dict[str, list[float]] = {v.label: [] for v in views}
    without: dict[str, list[float]] = {v.label: [] for v in views}
    with bench.connect() as conn:
        conn.autocommit = True
        row = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", (COMPOSITE_INDEX,)
        ).fetchone()
        if row is None:
            print(f"{COMPOSITE_INDEX} does not exist; both columns measure the same pages")
        for half in (n // 2, n - n // 2):
            for v in views:
                with_index[v.label] += _timed(_page_fn(clients[v.email], urls[v.label]), half)
            if row is not None:
                conn.execute(f'DROP INDEX "{COMPOSITE_INDEX}"')
            try:
                for v in views:
                    without[v.label] += _timed(_page_fn(clients[v.email], urls[v.label]), half)
            finally:
                if row is not None:
                    conn.execute(row[0])
                    conn.execute("ANALYZE ticket")
    return with_index, without


if __name__ == "__main__":
    raise SystemExit(main())
