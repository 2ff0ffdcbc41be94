"""A database outage: requests fail fast with a clear 503, service returns by itself, and no
submission is lost, doubled or left half-made (SPEC §8).

gunicorn serves the app on PostgreSQL through a TCP proxy in this process. While submissions
flow, the proxy is cut for OUTAGE seconds: open connections break and new ones are swallowed
unanswered, as when the database host drops off the network. The app connects with
``connect_timeout=2``, so every request in the outage must answer 503 within a few seconds.
The outage lasts 30 s, as in an operator's drill: long enough for every pooled connection to
be dropped and for clients to keep hammering a database that is not there.

Each logical submission carries an Idempotency-Key. One that got no 201 (a 503, or an answer
lost with a connection cut mid-commit) is retried after the outage with the same key, so in
the end every submission exists exactly once.
"""

import itertools
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from flask import Flask

from models import Registration
from models.db import db
from tests.dbutil import is_postgres_url
from tests.reliability.invariants import half_made, make_partners, registration_body
from tests.reliability.servers import TcpProxy, gunicorn_server

pytestmark = pytest.mark.slow

OUTAGE = 30.0
FAIL_FAST = 5.0  # connect_timeout (2 s) plus one reconnect attempt and some slack
CLIENTS = 4


@dataclass(frozen=True)
class Attempt:
    """One HTTP attempt of a logical submission."""

    key: str
    started: float
    finished: float
    status: int | None
    body: dict[str, object] | None
    error: str | None = None


def _post(base: str, token: str, key: str, customer: str) -> Attempt:
    started = time.monotonic()
    try:
        resp = requests.post(
            f"{base}/api/v1/registrations",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            json=registration_body(customer),
            timeout=20,
        )
        body = (
            resp.json()
            if resp.headers.get("Content-Type", "").startswith("application/json")
            else None
        )
        return Attempt(key, started, time.monotonic(), resp.status_code, body)
    except requests.RequestException as exc:
        return Attempt(key, started, time.monotonic(), None, None, type(exc).__name__)


def test_outage_fails_fast_and_loses_nothing(app: Flask, database_url: str, tmp_path: Path) -> None:
    """503 within seconds while the database is gone; full service and intact data after."""
    if not is_postgres_url(database_url):
        pytest.skip("a network cut between app and database needs PostgreSQL (SQLite is a file)")
    partners = make_partners(app, CLIENTS)
    target = sa.engine.make_url(database_url)
    proxy = TcpProxy((target.host or "127.0.0.1", target.port or 5432)).start()
    proxied = target.set(host="127.0.0.1", port=proxy.port, query={"connect_timeout": "2"})
    attempts: list[Attempt] = []
    lock = threading.Lock()
    stop = threading.Event()
    counter = itertools.count()
    customers: dict[str, tuple[int, str]] = {}
    try:
        with gunicorn_server(
            proxied.render_as_string(hide_password=False), tmp_path, workers=2, threads=4
        ) as server:

            def client(i: int) -> None:
                # Each partner registers each customer once (registering a deal it already
                # holds is refused); all partners go through the same customers.
                for j in itertools.count():
                    if stop.is_set():
                        return
                    n = next(counter)
                    key, customer = f"outage-{n}", f"Outage Customer {j}"
                    with lock:
                        customers[key] = (i, customer)
                    attempt = _post(server.url, partners.tokens[i], key, customer)
                    with lock:
                        attempts.append(attempt)
                    time.sleep(0.05)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
            for t in threads:
                t.start()
            time.sleep(1.5)
            cut_at = time.monotonic()
            proxy.cut()
            health_started = time.monotonic()
            health = requests.get(f"{server.url}/healthz", timeout=20)
            health_took = time.monotonic() - health_started
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - cut_at)))
            restored_at = time.monotonic()
            proxy.restore()
            time.sleep(3.0)
            stop.set()
            for t in threads:
                t.join(timeout=30)
            assert not any(t.is_alive() for t in threads)
            healthy = requests.get(f"{server.url}/healthz", timeout=10)

            # Retry every logical submission that has no success yet, with its own key.
            succeeded = {a.key for a in attempts if a.status in (200, 201)}
            retries = [
                _post(server.url, partners.tokens[i], key, customer)
                for key, (i, customer) in sorted(customers.items())
                if key not in succeeded
            ]
    finally:
        proxy.stop()

    during = [a for a in attempts if a.started >= cut_at and a.finished < restored_at]
    after = [a for a in attempts if a.started > restored_at + 1.0]
    assert len(during) >= CLIENTS, f"only {len(during)} requests fell in the outage"
    assert after, "no request after the outage"
    odd = [a for a in attempts if a.status not in (201, 503)]
    assert not odd, odd[:5]
    slow = [round(a.finished - a.started, 1) for a in during if a.finished - a.started > FAIL_FAST]
    assert not slow, f"requests hung in the outage: {slow}"
    for a in during:
        assert a.status == 503 and a.body is not None, a
        error = a.body["error"]
        assert isinstance(error, dict) and error["code"] == "unavailable", a.body
        assert "database" in str(error["message"]).lower(), a.body
    assert health.status_code == 503 and health_took < FAIL_FAST
    assert health.json()["database"] == "unreachable"
    assert all(a.status == 201 for a in after), [a.status for a in after]
    assert healthy.status_code == 200
    assert all(r.status in (200, 201) for r in retries), [(r.key, r.status) for r in retries]

    with app.app_context():
        keys = db.session.execute(sa.select(Registration.idempotency_key)).scalars().all()
        db.session.remove()
    assert sorted(keys) == sorted(customers), "a submission was lost or made twice"
    assert not half_made(app)
    print(
        f"{len(attempts)} requests, {len(during)} in the {OUTAGE:.0f} s outage "
        f"(slowest {max(a.finished - a.started for a in during):.1f} s), "
        f"{len(retries)} retried after it"
    )


def test_postgres_connections_time_out_by_default() -> None:
    """Without connect_timeout in DATABASE_URL, the app still gives up on a silent database."""
    from app import create_app
    from models.db import CONNECT_TIMEOUT

    base = "postgresql+psycopg://cg@127.0.0.1:9/cg"
    quiet = create_app({"SQLALCHEMY_DATABASE_URI": base, "SECRET_KEY": "x"})
    args = quiet.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]
    assert args["connect_timeout"] == 5
    assert CONNECT_TIMEOUT == 5
    # A host that vanishes under an open connection is noticed within about a minute.
    assert args["keepalives"] == 1 and args["tcp_user_timeout"] == 60_000
    idle, interval, count = (
        args[k] for k in ("keepalives_idle", "keepalives_interval", "keepalives_count")
    )
    assert idle + interval * count <= 60
    told = create_app({"SQLALCHEMY_DATABASE_URI": base + "?connect_timeout=2", "SECRET_KEY": "x"})
    told_args = told.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]
    assert "connect_timeout" not in told_args and told_args["keepalives"] == 1


def test_postgres_connections_carry_the_liveness_settings(app: Flask, database_url: str) -> None:
    """libpq takes the keepalive and user-timeout settings on a real connection."""
    if not is_postgres_url(database_url):
        pytest.skip("libpq settings need PostgreSQL")
    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            info = raw.driver_connection.info  # type: ignore[union-attr]
            params = info.get_parameters()
            dsn = info.dsn
        finally:
            raw.close()
    assert params  # the server answered on this connection
    for name in ("keepalives_idle", "tcp_user_timeout"):
        assert name in dsn, dsn


def test_connection_lost_after_the_work_keeps_the_answer(app: Flask, database_url: str) -> None:
    """A connection that dies between a request's last statement and its end (when the
    session is rolled back and closed) does not turn the finished answer into a 500."""
    if not is_postgres_url(database_url):
        pytest.skip("needs PostgreSQL: a server-side end of one connection")
    import psycopg

    from app import create_app
    from tests.dbutil import admin_conninfo

    # An app of its own, so a route can be added before it serves (the shared app is migrated).
    own = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "x"})

    @own.get("/_test/lose-connection")
    def lose_connection() -> str:
        pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        info, _ = admin_conninfo(database_url)
        with psycopg.connect(info, autocommit=True, connect_timeout=5) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return "done"

    resp = own.test_client().get("/_test/lose-connection")
    assert resp.status_code == 200 and resp.get_data(as_text=True) == "done"
    health = own.test_client().get("/healthz")
    assert health.status_code == 200, health.get_json()
    with own.app_context():
        db.engine.dispose()
