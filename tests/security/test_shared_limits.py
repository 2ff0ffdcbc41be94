"""API limits behind a load balancer: instances sharing a Redis store count one client together,
and a store that stops answering slows no request and leaves the limit in force per instance."""

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask

from models.db import db
from tests.factories import make_api_token, make_user
from tests.reliability.servers import Gunicorn, TcpProxy, gunicorn_server
from web.security import apply_storage_timeouts

REDIS = ("127.0.0.1", 6379)
LIMIT = 3


@pytest.fixture()
def redis_store() -> str:
    """Return the local Redis server's address, skipping when none answers."""
    import redis

    client = redis.Redis(*REDIS, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        # CI starts Redis (.ci/run), so there a missing server is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not answering on {REDIS[0]}:{REDIS[1]}: {exc}")
        pytest.skip(f"needs Redis on {REDIS[0]}:{REDIS[1]}: {exc}")
    finally:
        client.close()
    return f"{REDIS[0]}:{REDIS[1]}"


@pytest.fixture()
def bearer(app: Flask) -> dict[str, str]:
    with app.app_context():
        _, token = make_api_token(make_user("partner"))
        db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def _limits(store: str) -> dict[str, str]:
    # A prefix of the test's own, so counts left by another run never reach this one.
    return {
        "RATELIMIT_STORAGE_URI": store,
        "RATELIMIT_KEY_PREFIX": f"cg-test-{uuid.uuid4().hex}",
        "API_RATE_LIMIT": f"{LIMIT} per minute",
    }


@contextlib.contextmanager
def _instances(database_url: str, tmp_path: Path, env: dict[str, str]) -> Iterator[list[Gunicorn]]:
    """Serve two separate instances (one process each), as behind a load balancer."""
    with contextlib.ExitStack() as stack:
        servers = []
        for name in ("a", "b"):
            logs = tmp_path / name
            logs.mkdir()
            servers.append(
                stack.enter_context(gunicorn_server(database_url, logs, workers=1, env=env))
            )
        yield servers


def _alternate(servers: list[Gunicorn], bearer: dict[str, str], count: int) -> list[int]:
    statuses = []
    for i in range(count):
        resp = requests.get(
            f"{servers[i % 2].url}/api/v1/registrations", headers=bearer, timeout=10
        )
        statuses.append(resp.status_code)
    return statuses


@pytest.mark.slow
def test_instances_sharing_redis_count_one_client_together(
    database_url: str, tmp_path: Path, redis_store: str, bearer: dict[str, str]
) -> None:
    env = _limits(f"redis://{redis_store}/0")
    with _instances(database_url, tmp_path, env) as servers:
        statuses = _alternate(servers, bearer, 2 * LIMIT)
    # Each instance saw only three requests, yet the client was held to three in all.
    assert statuses == [200] * LIMIT + [429] * LIMIT


@pytest.mark.slow
def test_instances_counting_in_memory_count_apart(
    database_url: str, tmp_path: Path, bearer: dict[str, str]
) -> None:
    # What a shared store is for: without one, each instance allows the client its own three.
    with _instances(database_url, tmp_path, _limits("memory://")) as servers:
        statuses = _alternate(servers, bearer, 2 * LIMIT)
    assert statuses == [200] * (2 * LIMIT)


@pytest.mark.slow
def test_unanswering_store_slows_nothing_and_the_limit_holds(
    database_url: str, tmp_path: Path, redis_store: str, bearer: dict[str, str]
) -> None:
    host, port = redis_store.split(":")
    link = TcpProxy((host, int(port))).start()
    try:
        env = {**_limits(f"redis://127.0.0.1:{link.port}/0"), "RATELIMIT_STORAGE_TIMEOUT": "0.5"}
        with gunicorn_server(database_url, tmp_path, workers=1, env=env) as server:
            url = f"{server.url}/api/v1/registrations"
            assert requests.get(url, headers=bearer, timeout=10).status_code == 200
            # The store now accepts connections and never answers, like a host gone missing.
            link.cut()
            answers = [requests.get(url, headers=bearer, timeout=10) for _ in range(LIMIT + 1)]
    finally:
        link.stop()
    assert all(r.elapsed.total_seconds() < 3 for r in answers), [r.elapsed for r in answers]
    # Counted in the instance's memory from the outage on: three allowed, then refused.
    assert [r.status_code for r in answers] == [200] * LIMIT + [429]


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("redis://127.0.0.1:6379/0", {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}),
        (
            "rediss://cache.example.com:6380/0",
            {"socket_timeout": 0.25, "socket_connect_timeout": 0.25},
        ),
        ("memory://", {}),
    ],
)
def test_only_networked_stores_get_socket_timeouts(uri: str, expected: dict[str, float]) -> None:
    # A bare app: the limiter is one object per process, so the shared app's store stays put.
    bare = Flask(__name__)
    bare.config.update(RATELIMIT_STORAGE_URI=uri, RATELIMIT_STORAGE_TIMEOUT=0.25)
    apply_storage_timeouts(bare)
    assert bare.config.get("RATELIMIT_STORAGE_OPTIONS", {}) == expected
