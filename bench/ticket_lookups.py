"""Time one registration's page over many tickets, with and without the second-registration index.

Part of ``python -m bench queue``, on its database: a registration's page lists the tickets that
name it as either of their two registrations (``conflict.views._tickets_of``). The baseline is the
same page with ``ix_ticket_other_registration_id`` dropped (rebuilt from its own definition in
between), measured in alternating halves so drift on a shared machine falls on both alike.
"""

import itertools
import time
from collections.abc import Callable
from typing import Any

from bench.common import percentile, ratio

INDEX = "ix_ticket_other_registration_id"


def _timed(fn: Callable[[], None], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


Table = tuple[str, list[str], list[list[Any]]]


def registration_pages(bench: Any, client: Any, reg_ids: list[int], n: int) -> Table:
    """Time GET /registrations/<id> over reg_ids with and without INDEX; return the table."""
    urls = [f"/registrations/{rid}" for rid in reg_ids]
    turn = itertools.count()

    def get() -> None:
        url = urls[next(turn) % len(urls)]
        resp = client.get(url)
        if resp.status_code != 200:
            raise RuntimeError(f"GET {url} answered {resp.status_code}")

    get()  # warm-up: templates compiled, caches filled
    indexed: list[float] = []
    bare: list[float] = []
    with bench.connect() as conn:
        conn.autocommit = True
        row = conn.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (INDEX,))
        definition = row.fetchone()
        if definition is None:
            print(f"{INDEX} does not exist; both columns measure the same page")
        for half in (n // 2, n - n // 2):
            indexed += _timed(get, half)
            if definition is not None:
                conn.execute(f'DROP INDEX "{INDEX}"')
            try:
                bare += _timed(get, half)
            finally:
                if definition is not None:
                    conn.execute(definition[0])
                    conn.execute("ANALYZE ticket")

    def ms(values: list[float], q: float) -> float:
        return percentile(values, q) * 1e3

    return (
        f"One registration's page (GET /registrations/<id>, national reviewer, {len(urls)} "
        f"registrations in turn), ms over {n} requests; baseline: the same page without {INDEX}",
        ["page", "p50", "p95", "no-index p50", "no-index p95", "no-index/page p95"],
        [
            [
                "registration with its tickets",
                ms(indexed, 50),
                ms(indexed, 95),
                ms(bare, 50),
                ms(bare, 95),
                ratio(ms(bare, 95), ms(indexed, 95)),
            ]
        ],
    )
