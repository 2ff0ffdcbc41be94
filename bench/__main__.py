"""Run the benchmarks: `python -m bench [PART ...]`; with no part, every part in order."""

import importlib
import sys
import time

PARTS: dict[str, str] = {
    "matching": "bench.matching",
    "recheck": "bench.recheck",
    "queue": "bench.queue",
    "sweep": "bench.sweep",
    "http": "bench.http",
}


def main(argv: list[str]) -> int:
    """Run the named benchmark parts (all by default) and report their wall time."""
    names = argv or list(PARTS)
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        print(f"unknown part(s): {', '.join(unknown)}; choose from {', '.join(PARTS)}")
        return 2
    for name in names:
        started = time.perf_counter()
        print(f"\n=== bench part: {name}")
        module = importlib.import_module(PARTS[name])
        module.main([])
        print(f"=== {name} finished in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
