"""Benchmark the app over HTTP under gunicorn against a bare Flask endpoint that inserts one row.

Run: ``python -m bench http`` or ``python -m bench.http [--duration S] [--clients N]
[--workers N] [--worker-class sync|gthread] [--accounts N] [--generator wrk|threads]``.

Data, in a throw-away PostgreSQL database migrated by the app's migrations: 8 districts, 40
partners with one user each, reviewers (bench.fixtures.seed_people); a named-account list of
100,000 accounts (the demo's 1,000 real accounts, the real company names of ``../shared/data``,
then synthetic names; see bench.fixtures) stored by COPY and published through
``conflict.lists.publish``; one API token per load-generator thread, each for its own partner's
user, made with ``models.ApiToken`` and ``web.passwords``.

Servers, one at a time, on a free loopback port, each with the same gunicorn settings (2 sync
workers by default; no access log): the real app with one added endpoint
(``gunicorn 'bench.app_floor:create_app()'``, which is ``app:create_app()`` plus the app-floor
route, with ``APP_ENV=production``, ``DATABASE_URL`` the bench database, ``API_RATE_LIMIT``
raised so the limiter counts but never refuses), then ``bench/bare_app.py`` on the same database.

Load, bounded (each connection sends its next request as soon as the last one answered), for a
fixed time per endpoint after a warm-up (each worker builds the list's match index on its first
check, which must not count): by wrk when it is installed (``apt-get install wrk``; bench.wrk),
with 2 threads over ``--clients`` connections, else by a pool of ``--clients`` Python threads with
one ``requests.Session`` each. The warm-up always uses the Python threads. Endpoints:

* ``POST /api/v1/registrations`` with a bearer token: one in ten customers are accounts on the
  list (named as a partner would type them, so the request also opens a conflict ticket), the
  rest are real and synthetic companies kept off the list; districts, sizes and workloads vary;
* ``GET /api/v1/registrations`` (the caller's organisation's newest 50);
* ``GET /queue`` as a level-1 reviewer, signed in once through ``/login`` with the page's CSRF
  token (its session cookie and user agent sent on every request); its tickets are the
  conflicts the POSTs opened (the queue at scale is ``python -m bench queue``);
* the app floor: ``POST /bench-floor/rows`` with a bearer token, the same JSON bodies stored as
  one row through the app's own request stack (bench.app_floor), to show what the stack costs
  before any domain work;
* baseline: ``POST /rows`` of the bare app with the same JSON bodies.

The table gives each endpoint's req/s against the bare baseline (the target's ratio) and against
the app floor.

The load generator runs on the same two cores as gunicorn and PostgreSQL, for the app and the
baseline alike.
"""

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import requests

from bench import wrk
from bench.common import percentile, print_table, ratio
from bench.fixtures import (
    PASSWORD,
    SECRET_KEY,
    WORKLOAD_SETS,
    base_url,
    bench_database,
    build_names,
    csrf_token,
    free_port,
    machine_note,
    new_api_token,
    pg_unreachable,
    seed_people,
    store_list,
    today,
)
from bench.matching import legal_variant

ROOT = Path(__file__).resolve().parents[1]
SEED = 20240605
FLOOR = "app floor: POST /bench-floor/rows (token, 1 INSERT)"
HEADINGS = [
    "endpoint", "req/s", "p50 ms", "p99 ms", "errors", "req/s ÷ bare", "p99 ÷ bare",
    "req/s ÷ app floor",
]  # fmt: skip
READY_TIMEOUT = 60.0
WARM_UP_LIMIT = 120.0

# A request sender: (the thread's session, the thread's number) -> the response.
Send = Callable[[requests.Session, int], requests.Response]


@dataclass
class LoadResult:
    """What one load run measured."""

    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None

    @property
    def rate(self) -> float:
        """Return successful requests per second."""
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


@dataclass(frozen=True)
class Measured:
    """One endpoint's figures, whichever generator measured them."""

    rate: float
    p50: float  # seconds
    p99: float
    errors: int
    first_error: str | None

    @classmethod
    def of(cls, r: LoadResult) -> "Measured":
        """Return the figures of a thread-pool run."""
        p50, p99 = percentile(r.latencies, 50), percentile(r.latencies, 99)
        return cls(r.rate, p50, p99, r.errors, r.first_error)


def run_load(send: Send, expect: int, clients: int, duration: float) -> LoadResult:
    """Send requests from clients threads for duration seconds; collect latencies and errors."""
    result = LoadResult()
    lock = threading.Lock()
    deadline = time.perf_counter() + duration

    def worker(k: int) -> None:
        latencies: list[float] = []
        errors = 0
        first: str | None = None
        with requests.Session() as session:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    resp = send(session, k)
                    ok = resp.status_code == expect
                    problem = f"{resp.status_code}: {resp.text[:200]}"
                except requests.RequestException as exc:
                    ok, problem = False, f"{type(exc).__name__}: {exc}"
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1
                    first = first or problem
        with lock:
            result.latencies.extend(latencies)
            result.errors += errors
            result.first_error = result.first_error or first

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.elapsed = time.perf_counter() - started
    return result


def warm_up(send: Send, expect: int, clients: int) -> float:
    """Load until a whole round of requests answers fast (every worker warmed); return seconds."""
    started = time.perf_counter()
    while time.perf_counter() - started < WARM_UP_LIMIT:
        probe = run_load(send, expect, clients, 2.0)
        if probe.latencies and not probe.errors and percentile(probe.latencies, 100) < 0.5:
            break
    return time.perf_counter() - started


class Server:
    """A gunicorn process on a loopback port, stopped by stop()."""

    def __init__(self, target: str, env: dict[str, str], workers: int, worker_class: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="cg_bench_gunicorn_", suffix=".log")  # noqa: SIM115
        cmd = [
            sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
            "--workers", str(workers), "--worker-class", worker_class, "--threads",
            "4" if worker_class == "gthread" else "1", "--timeout", "120", target,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env={**os.environ, **env}, stdout=self.log, stderr=self.log
        )

    def wait_ready(self, path: str, ok: set[int]) -> None:
        """Poll path until the server answers with one of ok, or raise with the server's log."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(self.url + path, timeout=5).status_code in ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"gunicorn did not come up on {self.url}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        """Return the end of the server's log."""
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """Stop gunicorn (its workers with it) and remove the log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()


def registration_bodies(names: Any, count: int, districts: list[str]) -> list[dict[str, Any]]:
    """Return varied registration bodies: one in ten on a listed account, the rest off the list."""
    rng = random.Random(SEED)
    listed = rng.sample(names.accounts, count // 10)
    unlisted = rng.sample(names.unlisted, min(len(names.unlisted), count - len(listed)))
    customers = [legal_variant(a.name, rng) for a in listed] + unlisted
    rng.shuffle(customers)
    close = today() + timedelta(days=60)
    bodies = []
    for i, name in enumerate(customers):
        bodies.append(
            {
                "customer_name": name,
                "district": districts[i % len(districts)],
                "country": "US",
                "pc_count": rng.randint(500, 5_000),
                "workloads": list(WORKLOAD_SETS[i % len(WORKLOAD_SETS)]),
                "solution_stack": "all_microsoft" if i % 3 else "competitive_middleware",
                "estimated_value": rng.randrange(10_000, 900_000, 1_000),
                "expected_close_date": date.isoformat(close + timedelta(days=i % 90)),
                "infrastructure_maturity": ("basic", "standardized", "rationalized")[i % 3],
                "notes": "",
            }
        )
    return bodies


def _post_outcomes(bench: Any) -> str:
    """Return how the stored registrations were decided and how many tickets they opened."""
    with bench.connect() as conn:
        statuses = conn.execute(
            "SELECT status, count(*) FROM registration GROUP BY status ORDER BY 2 DESC"
        ).fetchall()
        row = conn.execute("SELECT count(*) FROM ticket").fetchone()
    total = sum(n for _, n in statuses) or 1
    shares = ", ".join(f"{status} {n / total:.0%}" for status, n in statuses)
    return f"{total:,} registrations: {shares}; {row[0] if row else 0:,} tickets opened"


def _login_cookies(server_url: str, email: str) -> dict[str, str]:
    with requests.Session() as s:
        page = s.get(server_url + "/login", timeout=10)
        token = csrf_token(page.text)
        resp = s.post(
            server_url + "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
            timeout=10,
        )
        if resp.status_code != 302:
            raise RuntimeError(f"login of {email} answered {resp.status_code}")
        return s.cookies.get_dict()


def main(argv: list[str] | None = None) -> int:
    """Serve the app and the bare baseline with gunicorn, load them, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync")
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument(
        "--generator",
        choices=("wrk", "threads"),
        default="wrk" if wrk.available() else "threads",
        help="wrk when installed (apt-get install wrk), else a pool of Python threads",
    )
    args = parser.parse_args(argv)
    reason = pg_unreachable(base_url())
    if reason:
        print(f"http skipped: PostgreSQL is not reachable at {base_url()} ({reason})")
        return 0

    from bench import app_floor, bare_app
    from conflict.lists import publish
    from models.db import db
    from models.db import session as db_session

    names = build_names(args.accounts, 20_000)
    results: dict[str, Measured] = {}
    with bench_database() as bench:
        with bench.app.app_context():
            sess = db_session()
            people = seed_people(sess)
            started = time.perf_counter()
            version = store_list(sess, names.accounts, actor_id=people.admin_id, label="Bench list")
            publish(sess, version, effective_from=today(), actor_id=people.admin_id)
            tokens = [
                new_api_token(sess, people.partner_user_ids[k % len(people.partner_user_ids)])
                for k in range(args.clients)
            ]
            sess.commit()
            print(
                f"data: {len(names.accounts):,} accounts stored by COPY and published in "
                f"{time.perf_counter() - started:.1f} s"
            )
            db.session.remove()
            db.engine.dispose()
        bare_app.create_table(bench.url)
        bodies = registration_bodies(names, 20_000, people.districts)
        env = {
            "DATABASE_URL": bench.url,
            "SECRET_KEY": SECRET_KEY,
            "APP_ENV": "production",
            "SESSION_COOKIE_SECURE": "0",
            "SCHEDULER_ENABLED": "0",
            "API_RATE_LIMIT": "1000000 per minute",
            "LOG_LEVEL": "WARNING",
        }
        counter = itertools.count()

        def body() -> dict[str, Any]:
            return bodies[next(counter) % len(bodies)]

        def auth(k: int) -> dict[str, str]:
            return {"Authorization": f"Bearer {tokens[k % len(tokens)]}"}

        def posts(path: str, with_auth: bool) -> list[wrk.Request]:
            # The bodies not sent yet, so no customer is registered twice.
            start = next(counter)
            return [
                wrk.Request(
                    "POST",
                    path,
                    {"Content-Type": "application/json", **(auth(i) if with_auth else {})},
                    json.dumps(bodies[(start + i) % len(bodies)]),
                )
                for i in range(len(bodies))
            ]

        def measure(
            base: str, send: Send, expect: int, wrk_requests: Callable[[], list[wrk.Request]]
        ) -> tuple[float, Measured]:
            warmed = warm_up(send, expect, args.clients)
            if args.generator == "wrk":
                threads = min(2, args.clients)
                found = wrk.run(
                    base, wrk_requests(), expect=expect, connections=args.clients,
                    threads=threads, duration=args.duration,
                )  # fmt: skip
                measured = Measured(
                    found.rate, found.p50, found.p99, found.errors, found.first_error
                )
            else:
                measured = Measured.of(run_load(send, expect, args.clients, args.duration))
            return warmed, measured

        print(f"machine before the run: {machine_note()}")
        server = Server("bench.app_floor:create_app()", env, args.workers, args.worker_class)
        try:
            server.wait_ready("/healthz", {200})
            url = server.url
            cookies = _login_cookies(url, people.level1_email)
            # The session is bound to the client that signed in (its user agent), as in a browser.
            browser = {
                "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
                "User-Agent": requests.utils.default_user_agent(),
            }

            def post_registration(s: requests.Session, k: int) -> requests.Response:
                return s.post(f"{url}/api/v1/registrations", json=body(), headers=auth(k))

            def list_registrations(s: requests.Session, k: int) -> requests.Response:
                return s.get(f"{url}/api/v1/registrations", headers=auth(k))

            def queue_page(s: requests.Session, k: int) -> requests.Response:
                return s.get(f"{url}/queue", cookies=cookies, allow_redirects=False)

            def post_floor(s: requests.Session, k: int) -> requests.Response:
                return s.post(url + app_floor.PATH, json=body(), headers=auth(k))

            for label, send, expect, wrk_requests in (
                ("POST /api/v1/registrations", post_registration, 201,
                 lambda: posts("/api/v1/registrations", True)),
                ("GET /api/v1/registrations", list_registrations, 200,
                 lambda: [wrk.Request("GET", "/api/v1/registrations", auth(k))
                          for k in range(len(tokens))]),
                ("GET /queue (level-1 reviewer)", queue_page, 200,
                 lambda: [wrk.Request("GET", "/queue", browser)]),
                (FLOOR, post_floor, 201, lambda: posts(app_floor.PATH, True)),
            ):  # fmt: skip
                warmed, results[label] = measure(url, send, expect, wrk_requests)
                print(f"  {label}: warmed up in {warmed:.1f} s, measured {args.duration:.0f} s")
        finally:
            server.stop()
        outcomes = _post_outcomes(bench)

        bare = Server("bench.bare_app:create_app()", env, args.workers, args.worker_class)
        try:
            bare.wait_ready("/rows", {405})

            def post_bare(s: requests.Session, k: int) -> requests.Response:
                return s.post(f"{bare.url}/rows", json=body())

            _, results["bare"] = measure(bare.url, post_bare, 201, lambda: posts("/rows", False))
        finally:
            bare.stop()

    print(f"machine after the run: {machine_note()}")
    base = results.pop("bare")
    floor = results[FLOOR]
    rows: list[list[Any]] = [
        ["bare Flask: POST /rows (1 INSERT)", base.rate, base.p50 * 1e3, base.p99 * 1e3,
         base.errors, 1.0, 1.0, ratio(base.rate, floor.rate)]
    ]  # fmt: skip
    for label, r in sorted(results.items(), key=lambda item: item[0] != FLOOR):
        rows.append(
            [label, r.rate, r.p50 * 1e3, r.p99 * 1e3, r.errors, ratio(r.rate, base.rate),
             ratio(r.p99, base.p99), ratio(r.rate, floor.rate)]
        )  # fmt: skip
    load = (
        f"wrk, {min(2, args.clients)} threads and {args.clients} connections"
        if args.generator == "wrk"
        else f"{args.clients} Python client threads"
    )
    print_table(
        f"HTTP on loopback: gunicorn {args.workers} {args.worker_class} workers, load from {load}, "
        f"{args.duration:.0f} s per endpoint (targets for the registration POST: "
        ">= 0.5x the bare endpoint's req/s, p99 < 100 ms, no errors)",
        HEADINGS,
        rows,
    )
    print(f"what the registration POSTs decided (warm-up included): {outcomes}")
    for label, r in {**results, "bare": base}.items():
        if r.first_error:
            print(f"first error of {label}: {r.first_error}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
