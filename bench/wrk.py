"""Drive one endpoint with wrk, the C load generator, and read back its rate, latency and errors.

The http benchmark uses it when ``wrk`` is on the PATH (Debian's package ``wrk``). Requests are
written to a Lua script: each of wrk's threads walks its own share of the request list (thread
k takes requests k, k + T, k + 2T, ...), so threads never send one body twice at once. Latency
percentiles come from ``--latency``; an answer with another status than expected, or a socket
error, counts as an error.
"""

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_DURATION = re.compile(r"([\d.]+)(us|ms|s|m)\b")


@dataclass(frozen=True)
class Request:
    """One request wrk sends: method, path, headers and body."""

    method: str
    path: str
    headers: dict[str, str]
    body: str = ""


@dataclass
class WrkResult:
    """What wrk measured for one endpoint."""

    rate: float
    p50: float  # seconds
    p99: float
    errors: int
    first_error: str | None = None


def available() -> bool:
    """Return True when wrk is installed."""
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    # JSON string escapes are valid Lua string escapes for the characters json.dumps emits.
    return json.dumps(text)


def _script(requests: list[Request], threads: int, expect: int) -> str:
    entries = []
    for r in requests:
        headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in r.headers.items())
        entries.append(
            f"{{{_lua_string(r.method)}, {_lua_string(r.path)}, {{{headers}}}, "
            f"{_lua_string(r.body)}}}"
        )
    # setup() and done() run in the main state; request() and response() in each thread's own,
    # which steps through its share of the list and counts answers other than the one expected
    # (wrk itself counts only non-2xx/3xx, so a redirect to the login page would pass).
    return (
        "local reqs = {\n" + ",\n".join(entries) + "\n}\n"
        "local made, threads = 0, {}\n"
        "function setup(thread)\n"
        "  thread:set('offset', made); made = made + 1; table.insert(threads, thread)\n"
        "end\n"
        "function init(args) unexpected = 0 end\n"
        "local n = -1\n"
        "function request()\n"
        "  n = n + 1\n"
        f"  local i = (tonumber(wrk.thread:get('offset')) + n * {threads}) % #reqs + 1\n"
        "  local r = reqs[i]\n"
        "  return wrk.format(r[1], r[2], r[3], r[4])\n"
        "end\n"
        f"function response(status)\n  if status ~= {expect} then unexpected = unexpected + 1 end\n"
        "end\n"
        "function done(summary, latency, requests)\n"
        "  local total = 0\n"
        "  for _, t in ipairs(threads) do total = total + t:get('unexpected') end\n"
        "  io.write(string.format('Unexpected status: %d\\n', total))\n"
        "end\n"
    )


def _seconds(text: str) -> float:
    found = _DURATION.fullmatch(text.strip())
    if not found:
        raise ValueError(f"cannot read wrk duration {text!r}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def parse(output: str) -> WrkResult:
    """Read rate, p50, p99 and errors from wrk's --latency report."""
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.M)
    if not (rate and p50 and p99):
        raise ValueError(f"unexpected wrk output:\n{output}")
    unexpected = re.search(r"Unexpected status: (\d+)", output)
    errors = int(unexpected.group(1)) if unexpected else 0
    first = f"{errors} answers with another status than expected" if errors else None
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx and not unexpected:
        errors += int(non_2xx.group(1))
        first = f"{non_2xx.group(1)} non-2xx/3xx answers"
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket:
        errors += sum(int(g) for g in socket.groups())
        first = first or f"socket errors: {socket.group(0)}"
    return WrkResult(
        float(rate.group(1)), _seconds(p50.group(1)), _seconds(p99.group(1)), errors, first
    )


def run(
    base_url: str,
    requests: list[Request],
    *,
    expect: int,
    connections: int,
    threads: int,
    duration: float,
) -> WrkResult:
    """Load base_url with the requests (in turn) for duration seconds and return what wrk saw."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed")
    with tempfile.TemporaryDirectory(prefix="cg_wrk_") as tmp:
        script = Path(tmp) / "requests.lua"
        script.write_text(_script(requests, threads, expect))
        command = [
            wrk, "--threads", str(threads), "--connections", str(connections),
            "--duration", f"{max(1, round(duration))}s", "--latency", "--timeout", "10s",
            "--script", str(script), base_url,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60)
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse(done.stdout)
