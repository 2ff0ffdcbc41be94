"""Real processes and sockets for reliability tests: gunicorn, a cuttable TCP proxy, an SMTP sink.

Everything binds to 127.0.0.1 on a port the kernel picks, every wait is bounded, and every
process started here is stopped (by its own id or process group) when its context exits.
"""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET_KEY = "test-secret-key"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_env(database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Return the environment of an app process on the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "GUNICORN"))}
    env.update(
        APP_ENV="testing",
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        SCHEDULER_ENABLED="0",
        SESSION_COOKIE_SECURE="0",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT="1",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra or {})
    return env


def stop_process(proc: subprocess.Popen[Any], grace: float = 5.0) -> None:
    """Stop a process started with start_new_session=True, and its children."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=grace)
    # Workers of a master that was killed outright may outlive it in the same group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def child_pids(pid: int) -> list[int]:
    """Return the ids of a process's direct children (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; fields follow the last ")".
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


@dataclass
class Gunicorn:
    """A running gunicorn master with its log files."""

    proc: subprocess.Popen[Any]
    url: str
    access_log: Path
    error_log: Path

    def worker_pids(self) -> list[int]:
        """Return the pids of the live workers."""
        return child_pids(self.proc.pid)

    def pids_serving(self, method: str, path: str) -> set[int]:
        """Return the pids of the workers that answered method path (from the access log)."""
        pids = set()
        for line in self.access_log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[1] == method and parts[2] == path:
                pids.add(int(parts[0].strip("<>")))
        return pids


@contextlib.contextmanager
def gunicorn_server(
    database_url: str,
    tmp_path: Path,
    *,
    workers: int = 2,
    threads: int = 1,
    env: dict[str, str] | None = None,
    timeout: float = 45.0,
) -> Iterator[Gunicorn]:
    """Serve the app with gunicorn on the test database until the block ends.

    Sync workers by default (one request at a time each); threads > 1 selects gthread workers.
    """
    port = free_port()
    access, errors = tmp_path / "access.log", tmp_path / "error.log"
    cmd = [
        str(BIN / "gunicorn"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread" if threads > 1 else "sync",
        "--timeout",
        "30",
        "--graceful-timeout",
        "3",
        "--access-logfile",
        str(access),
        "--access-logformat",
        "%(p)s %(m)s %(U)s %(s)s",
        "--error-logfile",
        str(errors),
        "--no-control-socket",
        "app:create_app()",
    ]
    # The app logs to the process's stderr; keep it next to gunicorn's own log.
    app_log = open(tmp_path / "app.log", "wb")  # noqa: SIM115  closed in finally
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=app_env(database_url, env),
        stdout=app_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Gunicorn(proc, f"http://127.0.0.1:{port}", access, errors)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {errors.read_text()[-3000:]}")
            try:
                if requests.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start: {errors.read_text()[-3000:]}")
            time.sleep(0.1)
        # Wait until every worker has booted, so load spreads from the first request.
        while len(server.worker_pids()) < workers and time.monotonic() < deadline:
            time.sleep(0.1)
        yield server
    finally:
        stop_process(proc)
        app_log.close()


@dataclass
class TcpProxy:
    """A TCP forwarder on loopback whose link can be cut and restored.

    Cut, it drops every open connection and then swallows new ones: it accepts them and never
    answers, like a database host that vanished from the network, so only the client's own
    timeouts can end the wait.
    """

    target: tuple[str, int]
    port: int = field(default_factory=free_port)
    _up: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _socks: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None
    _thread: threading.Thread | None = None

    def start(self) -> "TcpProxy":
        """Start listening and forwarding."""
        self._up.set()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.2)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()
        return self

    def _track(self, *socks: socket.socket) -> None:
        with self._lock:
            self._socks.update(socks)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._track(client)
            if not self._up.is_set():
                continue  # swallowed: kept open, never answered, closed on restore or stop
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            self._track(upstream)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data or not self._up.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def _drop_all(self) -> None:
        with self._lock:
            socks, self._socks = self._socks, set()
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def cut(self) -> None:
        """Break every open connection and swallow new ones."""
        self._up.clear()
        self._drop_all()

    def restore(self) -> None:
        """Forward again (connections swallowed while cut are closed)."""
        self._drop_all()
        self._up.set()

    def stop(self) -> None:
        """Stop listening and close everything."""
        self._stop.set()
        if self._listener is not None:
            self._listener.close()
        self._drop_all()
        if self._thread is not None:
            self._thread.join(timeout=5)


class SmtpSink:
    """An SMTP server on loopback (aiosmtpd) that records Message-IDs, optionally slowly."""

    def __init__(self, delay: float = 0.0) -> None:
        from aiosmtpd.controller import Controller

        self.delay = delay
        self.message_ids: list[str] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Record the message's Message-ID."""
        import email

        if self.delay:
            await asyncio.sleep(self.delay)
        msg = email.message_from_bytes(envelope.content)
        with self._lock:
            self.message_ids.append(str(msg["Message-ID"]))
        return "250 Message accepted"

    def received(self) -> list[str]:
        """Return the Message-IDs received so far, in order."""
        with self._lock:
            return list(self.message_ids)

    def __enter__(self) -> "SmtpSink":
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
