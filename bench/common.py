"""Small helpers shared by the benchmarks: percentiles and a plain-text table printer."""

import math
from collections.abc import Sequence

Cell = str | int | float | None


def percentile(values: Sequence[float], pct: float) -> float:
    """Return the pct-th percentile (0-100) of values by linear interpolation; nan if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ratio(baseline: float | None, ours: float | None) -> float | None:
    """Return baseline / ours (how many times better ours is), None when either is missing."""
    if baseline is None or ours is None or ours == 0 or math.isnan(baseline) or math.isnan(ours):
        return None
    return baseline / ours


def fmt(value: Cell, digits: int = 3) -> str:
    """Format one table cell: floats to a few significant digits, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}" if abs(value) >= 0.001 else f"{value:.2e}"
    if isinstance(value, int):
        return f"{value:,}"
    return value


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> None:
    """Print rows as an aligned plain-text table under a title (numbers right-aligned)."""
    text_rows = [[fmt(cell) for cell in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in text_rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(widths[i]) if numeric[i] else c.ljust(widths[i]) for i, c in enumerate(cells)
        ]
        return "| " + " | ".join(parts) + " |"

    print(f"\n{title}")
    print(line(list(headers)))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in text_rows:
        print(line(row))
