"""Shared builders for the PostgreSQL benchmarks: throw-away databases and bulk data by COPY.

Every part makes its own database next to ``BENCH_DATABASE_URL`` (default: the local server at
127.0.0.1:5432) with ``tests.dbutil.create_pg_database``, migrates it with the app's migrations
and drops it at the end. Reference data (districts, the policy, partners, users) goes through
the models, a few dozen rows; bulk rows (registrations, tickets, named accounts) go in with
``COPY ... FROM STDIN`` on a psycopg connection of their own.

Names are real wherever the public lists have enough of them:

* named accounts: the 1,000 accounts of ``demo/named_accounts.csv`` (real companies with their
  domains, segments, districts and MCS owners), then the real company names of ``../shared/data``
  (S&P 500, SEC EDGAR, Nasdaq, cleanco, DNB; loaded by ``bench.matching.load_companies``), then
  synthetic names made by ``bench.matching.synthetic_names`` (a real name stem + real industry
  words and places) once the real ones run out;
* customers that are not on any list: one real company in five is held back from the lists for
  them, topped up with further synthetic names;
* customers that are on a list: the account's name with its legal form swapped, dropped or
  upper-cased (``bench.matching.legal_variant``), as a partner would type it.
"""

import itertools
import json
import os
import random
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from bench.matching import DEFAULT_DATA, load_companies, synthetic_names
from conflict.normalize import name_key
from tests.dbutil import admin_conninfo, create_pg_database, drop_pg_database

DEFAULT_BASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEMO_ACCOUNTS = Path(__file__).resolve().parents[1] / "demo" / "named_accounts.csv"
PASSWORD = "bench-password-1"  # noqa: S105  a throw-away database's only password
SECRET_KEY = "bench-secret-key"  # noqa: S105  signs cookies of a throw-away app
SEED = 20240601
WORKLOAD_SETS: tuple[tuple[str, ...], ...] = (
    ("exchange",),
    ("sharepoint", "office365"),
    ("azure",),
    ("sql_server", "windows_server"),
    ("dotnet_server", "middleware"),
    ("dynamics",),
    ("yammer", "skype"),
)


def base_url() -> str:
    """Return the server URL the benchmark databases are made next to."""
    return os.environ.get("BENCH_DATABASE_URL", DEFAULT_BASE_URL)


def pg_unreachable(url: str) -> str | None:
    """Return why PostgreSQL at url cannot be used, or None when it answers."""
    info, _ = admin_conninfo(url)
    try:
        with psycopg.connect(info, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
    return None


def machine_note() -> str:
    """Return the load average and core count, to read the figures against (machines are shared)."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min) on {os.cpu_count()} cores"


def libpq_url(url: str) -> str:
    """Return a SQLAlchemy URL as a plain libpq one (no +driver)."""
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)


def app_overrides(url: str) -> dict[str, Any]:
    """Return the create_app overrides of an in-process benchmark app on url."""
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": SECRET_KEY,
        "APP_ENV": "production",
        "SESSION_COOKIE_SECURE": False,
        "SCHEDULER_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": 1,
        "BASE_URL": "http://127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "WEBHOOK_URLS": [],
    }


@dataclass
class BenchDb:
    """A migrated throw-away database and an app bound to it."""

    url: str
    app: Flask

    def connect(self) -> psycopg.Connection[Any]:
        """Open a psycopg connection of its own (for COPY and plain SQL)."""
        return psycopg.connect(libpq_url(self.url))


@contextmanager
def bench_database(prefix: str = "cg_bench") -> Iterator[BenchDb]:
    """Create a database, migrate it with the app's migrations, yield it, and drop it."""
    from flask_migrate import upgrade

    from app import create_app
    from conflict import index_cache
    from models.db import db

    url = create_pg_database(base_url(), prefix=prefix)
    app: Flask | None = None
    try:
        app = create_app(app_overrides(url))
        with app.app_context():
            upgrade()
        yield BenchDb(url, app)
    finally:
        if app is not None:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        index_cache.clear()
        drop_pg_database(url)


# -- COPY -------------------------------------------------------------------------------------


def copy_rows(
    conn: psycopg.Connection[Any], table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """COPY rows into table (in the connection's transaction); return how many."""
    count = 0
    statement = f'COPY "{table}" ({", ".join(columns)}) FROM STDIN'
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


@contextmanager
def indexes_deferred(conn: psycopg.Connection[Any], table: str) -> Iterator[None]:
    """Drop a table's secondary indexes for a bulk load and recreate them, exactly, after it.

    Building an index once over a loaded table is several times faster than maintaining it row
    by row; the definitions are read back from pg_indexes, so the schema ends up unchanged.
    """
    defs = [
        (name, ddl)
        for name, ddl in conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "LEFT JOIN pg_constraint c ON c.conname = i.indexname "
            "WHERE i.tablename = %s AND c.conname IS NULL",
            (table,),
        )
    ]
    for name, _ in defs:
        conn.execute(f'DROP INDEX "{name}"')
    yield
    conn.execute("SET maintenance_work_mem = '256MB'")
    for _, ddl in defs:
        conn.execute(ddl)


@contextmanager
def triggers_deferred(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Skip foreign-key triggers during a bulk load whose references are right by construction."""
    conn.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        conn.execute("SET session_replication_role = DEFAULT")


# -- reference data ---------------------------------------------------------------------------


@dataclass
class People:
    """The reference rows the bulk data points at."""

    policy_version_id: int
    admin_id: int
    districts: list[str]
    regions: dict[str, str]  # district -> region
    partner_ids: list[int]
    partner_user_ids: list[int]  # one user per partner, same order
    reviewer_ids: list[int]
    level1_by_district: dict[str, list[int]] = field(default_factory=dict)
    level1_email: str = ""
    national_email: str = ""
    partner_emails: list[str] = field(default_factory=list)


def seed_people(sess: Session, *, partners: int = 40, reviewers_per_district: int = 2) -> People:
    """Create districts, the policy, an admin, partners with one user each and reviewers."""
    from demo.districts import DISTRICTS
    from models import District, Partner, User
    from models.policy import active_policy
    from web.passwords import hash_password

    # scrypt is slow by design; every bench user shares one hash.
    pw = hash_password(PASSWORD)
    for code, name, region, tz in DISTRICTS:
        sess.add(District(code=code, name=name, region=region, timezone=tz))
    sess.flush()
    policy = active_policy(sess)
    admin = User(email="admin@bench.example", name="Bench Admin", password_hash=pw, role="admin")
    sess.add(admin)
    districts = [d[0] for d in DISTRICTS]
    regions = {d[0]: d[2] for d in DISTRICTS}
    orgs = [
        Partner(name=f"Bench Partner {i + 1:02d}", points=(30, 60, 130)[i % 3], district=d)
        for i, d in zip(range(partners), itertools.cycle(districts), strict=False)
    ]
    sess.add_all(orgs)
    sess.flush()
    partner_users = [
        User(
            email=f"partner{i + 1:02d}@bench.example",
            password_hash=pw,
            role="partner",
            partner_id=p.id,
        )
        for i, p in enumerate(orgs)
    ]
    reviewers: list[User] = []
    by_district: dict[str, list[User]] = {}
    for d in districts:
        for k in range(reviewers_per_district):
            u = User(
                email=f"l1-{d}-{k + 1}@bench.example",
                name=f"Reviewer {d} {k + 1}",
                password_hash=pw,
                role="reviewer",
                level=1,
                districts=[d],
                region=regions[d],
            )
            reviewers.append(u)
            by_district.setdefault(d, []).append(u)
    for region in sorted(set(regions.values())):
        reviewers.append(
            User(
                email=f"l2-{region}@bench.example",
                password_hash=pw,
                role="reviewer",
                level=2,
                region=region,
                districts=[d for d in districts if regions[d] == region],
            )
        )
    reviewers.append(
        User(email="l3@bench.example", password_hash=pw, role="reviewer", level=3, districts=[])
    )
    sess.add_all(partner_users + reviewers)
    sess.flush()
    return People(
        policy_version_id=policy.id or 0,
        admin_id=admin.id or 0,
        districts=districts,
        regions=regions,
        partner_ids=[p.id or 0 for p in orgs],
        partner_user_ids=[u.id or 0 for u in partner_users],
        reviewer_ids=[u.id or 0 for u in reviewers],
        level1_by_district={d: [u.id or 0 for u in us] for d, us in by_district.items()},
        level1_email=by_district[districts[0]][0].email,
        national_email="l3@bench.example",
        partner_emails=[u.email for u in partner_users],
    )


def new_api_token(sess: Session, user_id: int, name: str = "bench") -> str:
    """Create a bearer token for a user and return it."""
    from models import ApiToken
    from web.passwords import hash_token, new_token

    token = new_token()
    sess.add(ApiToken(user_id=user_id, name=name, prefix=token[:8], token_hash=hash_token(token)))
    sess.flush()
    return token


# -- names and named-account lists ------------------------------------------------------------


@dataclass
class Names:
    """Accounts for the lists and customer names kept off every list."""

    accounts: list[Any]  # conflict.lists.AccountRow, in list order
    unlisted: list[str]


def build_names(list_size: int, unlisted: int, data: Path = DEFAULT_DATA) -> Names:
    """Return list_size accounts and unlisted customer names (real first, then synthetic)."""
    from conflict.lists import AccountRow, parse_csv

    demo = list(parse_csv(DEMO_ACCOUNTS.read_bytes()).rows)
    owners = sorted({r.mcs_owner_email for r in demo if r.mcs_owner_email})
    districts = sorted({r.district for r in demo if r.district})
    taken = {name_key(r.name) for r in demo}
    companies, parts = load_companies(data)
    real_listed: list[str] = []
    real_unlisted: list[str] = []
    for i, company in enumerate(companies):
        name = company.names[0]
        key = name_key(name)
        if not key or key in taken:
            continue
        taken.add(key)
        # One real company in five stays off every list: real customers MCS does not own.
        (real_unlisted if i % 5 == 4 else real_listed).append(name)
    # Synthetic names never reuse a key of any spelling of a real company.
    taken |= {name_key(n) for c in companies for n in c.names}
    listed_names = real_listed[: max(list_size - len(demo), 0)]
    need = max(list_size - len(demo) - len(listed_names), 0)
    unlisted_names = real_unlisted[:unlisted]
    need_unlisted = max(unlisted - len(unlisted_names), 0)
    made = list(synthetic_names(parts, need + need_unlisted, taken))
    listed_names += made[:need]
    unlisted_names += made[need:]
    rng = random.Random(SEED)
    segments = ("corporate", "corporate", "major", "strategic")
    accounts = demo[:list_size]
    for i, name in enumerate(listed_names):
        accounts.append(
            AccountRow(
                account_id=f"B{i + 1:06d}",
                name=name,
                segment=segments[i % len(segments)],
                district=districts[i % len(districts)],
                pc_count=rng.randint(4_001, 250_000),
                mcs_owner_email=owners[i % len(owners)],
            )
        )
    return Names(accounts[:list_size], unlisted_names)


def store_list(sess: Session, rows: Sequence[Any], *, actor_id: int, label: str) -> Any:
    """Store accounts as a draft list version through conflict.lists (COPY on PostgreSQL)."""
    from conflict.lists import ParsedList, content_hash, store_draft

    parsed = ParsedList(tuple(rows), content_hash(rows))
    return store_draft(sess, parsed, actor_id=actor_id, label=label, source="bench")


def customer_key(name: str) -> str:
    """Return the registration's customer key, the way conflict.service derives it."""
    return "n:" + (name_key(name) or name.strip().casefold())


# -- bulk rows --------------------------------------------------------------------------------

REGISTRATION_COLUMNS: tuple[str, ...] = (
    "party",
    "partner_id",
    "submitted_by_id",
    "customer_name",
    "customer_key",
    "district",
    "country",
    "pc_count",
    "workloads",
    "solution_stack",
    "dotnet_early_adoption",
    "estimated_value",
    "notes",
    "status",
    "list_version_id",
    "policy_version_id",
    "submitted_at",
    "decided_at",
    "expires_at",
    "updated_at",
)


def registration_rows(
    customers: Iterable[str],
    people: People,
    *,
    now: datetime,
    status: str = "approved",
    list_version_id: int | None = None,
    seed: int = SEED,
) -> Iterator[tuple[Any, ...]]:
    """Yield COPY rows of open partner registrations, one per customer name."""
    rng = random.Random(seed)
    workloads = [json.dumps(list(w)) for w in WORKLOAD_SETS]
    for i, name in enumerate(customers):
        k = rng.randrange(len(people.partner_ids))
        submitted = now - timedelta(minutes=rng.randrange(60 * 24 * 80))
        yield (
            "partner",
            people.partner_ids[k],
            people.partner_user_ids[k],
            name[:300],
            customer_key(name)[:300],
            people.districts[i % len(people.districts)],
            "US",
            rng.randint(500, 5_000),
            workloads[i % len(workloads)],
            "all_microsoft" if i % 3 else "competitive_middleware",
            False,
            rng.randrange(10_000, 900_000, 1_000),
            "",
            status,
            list_version_id,
            people.policy_version_id,
            submitted,
            submitted,
            submitted + timedelta(days=90),
            submitted,
        )


TICKET_COLUMNS: tuple[str, ...] = (
    "type",
    "rule",
    "status",
    "level",
    "district",
    "region",
    "owner_id",
    "claimed_at",
    "registration_id",
    "partner_id",
    "title",
    "policy_version_id",
    "opened_at",
    "sla_due_at",
    "breached",
    "routed_at",
    "resolution",
    "rationale",
    "decided_by_id",
    "decided_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class TicketSpec:
    """What one bulk ticket looks like; the builder fills in the rest."""

    registration_id: int
    partner_id: int
    customer: str
    district: str
    status: str  # open | in_review | decided
    level: int
    due: datetime | None
    opened: datetime


def ticket_rows(specs: Iterable[TicketSpec], people: People) -> Iterator[tuple[Any, ...]]:
    """Yield COPY rows for tickets (decided ones with a resolution, in-review ones owned)."""
    resolutions = ("partner_leads", "mcs_leads", "joint_engagement", "rejected")
    for i, s in enumerate(specs):
        owners = people.level1_by_district.get(s.district) or people.reviewer_ids
        owner = owners[i % len(owners)] if s.status != "open" or i % 3 else None
        decided = s.status == "decided"
        yield (
            "conflict",
            "NAMED_ACCOUNT",
            s.status,
            s.level,
            s.district,
            people.regions.get(s.district),
            owner,
            s.opened if s.status == "in_review" else None,
            s.registration_id,
            s.partner_id,
            f"Named account: {s.customer}"[:300],
            people.policy_version_id,
            s.opened,
            s.due,
            False,
            s.opened if owner is not None else None,
            resolutions[i % len(resolutions)] if decided else None,
            "Decided in the district review." if decided else None,
            owner if decided else None,
            s.opened + timedelta(hours=6) if decided else None,
            s.opened,
        )


# -- small web helpers ------------------------------------------------------------------------


def csrf_token(html: str) -> str:
    """Return the CSRF token embedded in a rendered form."""
    for marker in ('name="csrf_token" type="hidden" value="', 'name="csrf_token" value="'):
        if marker in html:
            start = html.index(marker) + len(marker)
            return html[start : html.index('"', start)]
    raise ValueError("no CSRF token on the page")


def free_port() -> int:
    """Return a free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def today() -> date:
    """Return today's date (UTC), the effective date of lists published by the benchmarks."""
    from models import utcnow

    return utcnow().date()
