"""Dashboard aggregates, drawn as server-rendered inline SVG, with the numbers as tables and CSV.

Charts are plain SVG markup built here (no JavaScript, no chart library, no inline styles: the
content security policy forbids them), so the page works offline and prints.
"""

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from conflict.types import MATURITY_LEVELS
from escalation.service import OPEN_STATUSES
from escalation.states import RESOLUTION_LABELS
from models import Partner, Registration, Ticket
from models.district import district_names
from models.partner import TIER_LABELS, tier_expression
from models.ticket import RESOLUTIONS

DEFAULT_WEEKS = 12
# Colour-blind-safe palette (Okabe-Ito), as presentation attributes.
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#000000",
)


@dataclass
class Chart:
    """One chart: categories along one axis, one or more series of numbers."""

    key: str
    title: str
    kind: str  # "bars" (horizontal, stacked), "columns" (weekly, stacked) or "line"
    category_label: str
    categories: list[str]
    series: list[tuple[str, list[float]]]
    unit: str = ""
    summary: str = ""
    note: str = ""
    svg: Markup = field(default_factory=lambda: Markup(""))

    @property
    def rows(self) -> list[list[Any]]:
        """Return the table rows: the category, then each series' value."""
        return [
            [cat, *(_fmt(values[i]) for _, values in self.series)]
            for i, cat in enumerate(self.categories)
        ]

    @property
    def header(self) -> list[str]:
        """Return the table header."""
        return [self.category_label, *(name for name, _ in self.series)]

    @property
    def empty(self) -> bool:
        """Return True when there is nothing to draw."""
        return not self.categories or not any(any(v for v in vals) for _, vals in self.series)


def _fmt(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 1)


# --- time buckets -------------------------------------------------------------------------


def week_start(day: date) -> date:
    """Return the Monday of the ISO week a date falls in."""
    return day - timedelta(days=day.weekday())


def _weeks(now: datetime, count: int) -> list[date]:
    last = week_start(now.date())
    return [last - timedelta(weeks=count - 1 - i) for i in range(count)]


def _week_expr(sess: Session, column: Any) -> Any:
    """Return a SQL expression for the Monday (UTC) of the week a timestamp falls in."""
    if sess.get_bind().dialect.name == "postgresql":
        return sa.func.date_trunc("week", sa.func.timezone("UTC", column))
    # SQLite stores UTC text; step back six days, then forward to the next Monday.
    return sa.func.date(column, "-6 days", "weekday 1", type_=sa.String)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _label_week(day: date) -> str:
    return day.isoformat()


# --- aggregates ---------------------------------------------------------------------------


def _open_by(
    sess: Session,
    column: Any,
    key: str,
    title: str,
    label: str,
    names: dict[str, str] | None = None,
) -> Chart:
    rows = sess.execute(
        sa.select(column, Ticket.type, sa.func.count())
        .where(Ticket.status.in_(OPEN_STATUSES))
        .group_by(column, Ticket.type)
    ).all()
    table: dict[str, dict[str, int]] = defaultdict(lambda: {"conflict": 0, "exception": 0})
    for cat, ttype, n in rows:
        table[(names or {}).get(cat, cat) if cat else "(none)"][ttype] += n
    cats = sorted(table, key=lambda c: (-sum(table[c].values()), c))
    return Chart(
        key=key,
        title=title,
        kind="bars",
        category_label=label,
        categories=cats,
        series=[
            ("Conflicts", [table[c]["conflict"] for c in cats]),
            ("Exceptions", [table[c]["exception"] for c in cats]),
        ],
        unit="tickets",
        summary=(
            f"{sum(v['conflict'] for v in table.values())} open conflicts, "
            f"{sum(v['exception'] for v in table.values())} open exceptions."
        ),
    )


def open_by_district(sess: Session, now: datetime, weeks: int) -> Chart:
    """Count open conflicts and exceptions per district, named as the districts are."""
    names = district_names(sess)
    return _open_by(
        sess, Ticket.district, "open_by_district", "Open tickets by district", "District", names
    )


def open_by_rule(sess: Session, now: datetime, weeks: int) -> Chart:
    """Count open conflicts and exceptions per rule."""
    return _open_by(sess, Ticket.rule, "open_by_rule", "Open tickets by rule", "Rule")


def resolution_time(sess: Session, now: datetime, weeks: int) -> Chart:
    """Return the median hours from opening to decision, per week of decision."""
    buckets = _weeks(now, weeks)
    start = datetime.combine(buckets[0], datetime.min.time(), tzinfo=now.tzinfo)
    week = _week_expr(sess, Ticket.decided_at)
    where = (Ticket.status == "decided", Ticket.decided_at >= start)
    per_week: dict[date, tuple[float, int]] = {}
    if sess.get_bind().dialect.name == "postgresql":
        epoch = sa.func.extract("epoch", Ticket.decided_at - Ticket.opened_at)
        median = sa.func.percentile_cont(0.5).within_group(epoch)
        for wk, med, n in sess.execute(
            sa.select(week, median, sa.func.count()).where(*where).group_by(week)
        ):
            per_week[_as_date(wk)] = (float(med) / 3600, int(n))
        overall_row = sess.execute(sa.select(median).where(*where)).scalar()
        overall = float(overall_row) / 3600 if overall_row is not None else None
    else:
        # SQLite has no percentile function; the dashboard window is small enough to do here.
        seconds = (
            sa.func.julianday(Ticket.decided_at) - sa.func.julianday(Ticket.opened_at)
        ) * 86400
        samples: dict[date, list[float]] = defaultdict(list)
        for wk, secs in sess.execute(sa.select(week, seconds).where(*where)):
            samples[_as_date(wk)].append(float(secs))
        per_week = {wk: (statistics.median(v) / 3600, len(v)) for wk, v in samples.items()}
        every = [s for v in samples.values() for s in v]
        overall = statistics.median(every) / 3600 if every else None
    return Chart(
        key="resolution_time",
        title="Median time to resolution",
        kind="line",
        category_label="Week of decision",
        categories=[_label_week(w) for w in buckets],
        series=[
            ("Median hours", [per_week.get(w, (0.0, 0))[0] for w in buckets]),
            ("Tickets decided", [per_week.get(w, (0.0, 0))[1] for w in buckets]),
        ],
        unit="hours",
        summary=(
            f"Median over the period: {overall:.1f} hours (calendar time)."
            if overall is not None
            else "No decisions in the period."
        ),
    )


def breach_rate(sess: Session, now: datetime, weeks: int) -> Chart:
    """Return the share of tickets opened each week that breached the national SLA."""
    buckets = _weeks(now, weeks)
    start = datetime.combine(buckets[0], datetime.min.time(), tzinfo=now.tzinfo)
    week = _week_expr(sess, Ticket.opened_at)
    breached = sa.func.sum(sa.case((Ticket.breached.is_(True), 1), else_=0))
    per_week = {
        _as_date(wk): (int(n), int(b or 0))
        for wk, n, b in sess.execute(
            sa.select(week, sa.func.count(), breached)
            .where(Ticket.opened_at >= start)
            .group_by(week)
        )
    }
    opened = sum(n for n, _ in per_week.values())
    total_breached = sum(b for _, b in per_week.values())
    return Chart(
        key="breach_rate",
        title="SLA breach rate",
        kind="line",
        category_label="Week opened",
        categories=[_label_week(w) for w in buckets],
        series=[
            (
                "Breach rate %",
                [
                    100.0 * per_week[w][1] / per_week[w][0] if per_week.get(w, (0, 0))[0] else 0.0
                    for w in buckets
                ],
            ),
            ("Tickets opened", [per_week.get(w, (0, 0))[0] for w in buckets]),
            ("Breached", [per_week.get(w, (0, 0))[1] for w in buckets]),
        ],
        unit="%",
        summary=(
            f"{total_breached} of {opened} tickets opened in the period breached "
            f"({100.0 * total_breached / opened:.1f}%)."
            if opened
            else "No tickets opened in the period."
        ),
    )


def _weekly_split(
    sess: Session,
    now: datetime,
    weeks: int,
    ts: Any,
    category: Any,
    order: Sequence[str],
    labels: Mapping[str, str],
    where: Sequence[Any] = (),
    join: Callable[[Any], Any] | None = None,
    always: Sequence[str] = (),
) -> tuple[list[date], list[tuple[str, list[float]]]]:
    buckets = _weeks(now, weeks)
    start = datetime.combine(buckets[0], datetime.min.time(), tzinfo=now.tzinfo)
    week = _week_expr(sess, ts)
    stmt = sa.select(week, category, sa.func.count())
    if join is not None:
        stmt = join(stmt)
    stmt = stmt.where(ts >= start, *where).group_by(week, category)
    counts: dict[tuple[date, str], int] = defaultdict(int)
    seen: set[str] = set()
    for wk, cat, n in sess.execute(stmt):
        counts[(_as_date(wk), str(cat))] += int(n)
        seen.add(str(cat))
    # The categories a breakdown is read by stay, counted or not, so the chart and its CSV keep
    # their columns from one period to the next.
    shown = seen | set(always)
    names = [c for c in order if c in shown] + sorted(shown - set(order))
    series: list[tuple[str, list[float]]] = [
        (
            labels.get(name, name.replace("_", " ").capitalize()),
            [float(counts[(w, name)]) for w in buckets],
        )
        for name in names
    ]
    return buckets, series


def decisions_by_outcome(sess: Session, now: datetime, weeks: int) -> Chart:
    """Count decisions per week by resolution."""
    buckets, series = _weekly_split(
        sess,
        now,
        weeks,
        Ticket.decided_at,
        Ticket.resolution,
        RESOLUTIONS,
        RESOLUTION_LABELS,
        where=[Ticket.status == "decided"],
    )
    total = sum(sum(v) for _, v in series)
    return Chart(
        key="decisions",
        title="Decisions by outcome",
        kind="columns",
        category_label="Week of decision",
        categories=[_label_week(w) for w in buckets],
        series=series,
        unit="decisions",
        summary=f"{int(total)} decisions in the period.",
    )


def registrations_by_tier(sess: Session, now: datetime, weeks: int) -> Chart:
    """Count registrations per week by the partner's tier (MCS engagements apart)."""
    tier = sa.case(
        (Registration.partner_id.is_(None), "mcs"), else_=tier_expression(Partner.points)
    )
    buckets, series = _weekly_split(
        sess,
        now,
        weeks,
        Registration.submitted_at,
        tier,
        ("gold", "certified", "registered", "mcs"),
        dict(TIER_LABELS) | {"mcs": "MCS (direct)"},
        join=lambda s: s.select_from(Registration).outerjoin(
            Partner, Partner.id == Registration.partner_id
        ),
        always=("gold", "certified", "registered", "mcs"),
    )
    return Chart(
        key="registrations_by_tier",
        title="Registrations by partner tier",
        kind="columns",
        category_label="Week submitted",
        categories=[_label_week(w) for w in buckets],
        series=series,
        unit="registrations",
        summary=f"{int(sum(sum(v) for _, v in series))} registrations in the period.",
    )


def registrations_by_maturity(sess: Session, now: datetime, weeks: int) -> Chart:
    """Count registrations per week by the customer's infrastructure maturity."""
    maturity = sa.func.coalesce(Registration.infrastructure_maturity, "not_recorded")
    buckets, series = _weekly_split(
        sess,
        now,
        weeks,
        Registration.submitted_at,
        maturity,
        (*MATURITY_LEVELS, "not_recorded"),
        {"not_recorded": "Not recorded"},
        always=MATURITY_LEVELS,
    )
    return Chart(
        key="registrations_by_maturity",
        title="Registrations by customer infrastructure maturity",
        kind="columns",
        category_label="Week submitted",
        categories=[_label_week(w) for w in buckets],
        series=series,
        unit="registrations",
        summary=f"{int(sum(sum(v) for _, v in series))} registrations in the period.",
        note="Maturity levels: basic, standardized, rationalized, dynamic.",
    )


BUILDERS: dict[str, Callable[[Session, datetime, int], Chart]] = {
    "open_by_district": open_by_district,
    "open_by_rule": open_by_rule,
    "resolution_time": resolution_time,
    "breach_rate": breach_rate,
    "decisions": decisions_by_outcome,
    "registrations_by_tier": registrations_by_tier,
    "registrations_by_maturity": registrations_by_maturity,
}
CHART_KEYS: tuple[str, ...] = tuple(BUILDERS)


def build_chart(sess: Session, now: datetime, key: str, *, weeks: int = DEFAULT_WEEKS) -> Chart:
    """Compute one chart's numbers and draw it."""
    chart = BUILDERS[key](sess, now, weeks)
    chart.svg = render_svg(chart)
    return chart


def build_charts(sess: Session, now: datetime, *, weeks: int = DEFAULT_WEEKS) -> list[Chart]:
    """Compute and draw every dashboard chart."""
    return [build_chart(sess, now, key, weeks=weeks) for key in CHART_KEYS]


# --- CSV ----------------------------------------------------------------------------------


def _csv_cell(value: Any) -> Any:
    # A cell starting with a formula character would run as a formula in a spreadsheet.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(chart: Chart) -> str:
    """Return the chart's table as CSV text."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([_csv_cell(h) for h in chart.header])
    for row in chart.rows:
        writer.writerow([_csv_cell(c) for c in row])
    return buf.getvalue()


# --- SVG ----------------------------------------------------------------------------------

WIDTH = 640


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _legend(names: Sequence[str], y: float) -> list[str]:
    out: list[str] = []
    x = 10.0
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{_num(x)}" y="{_num(y)}" width="12" height="12" fill="{colour}"/>')
        out.append(
            f'<text x="{_num(x + 16)}" y="{_num(y + 10)}" font-size="12">{escape(name)}</text>'
        )
        x += 28 + 7 * len(name)
    return out


def _frame(chart: Chart, height: float, body: list[str]) -> Markup:
    title_id = f"chart-{chart.key}-title"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-labelledby="{title_id}" viewBox="0 0 {WIDTH} {_num(height)}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" font-family="sans-serif">'
        f'<title id="{title_id}">{escape(chart.title)}. {escape(chart.summary)}</title>'
    )
    # Every interpolated text above went through escape(); numbers and colours are ours.
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704  # nosec B704


def _bars(chart: Chart) -> Markup:
    label_w, row_h, top = 170.0, 22.0, 8.0
    plot_w = WIDTH - label_w - 50
    totals = [sum(vals[i] for _, vals in chart.series) for i in range(len(chart.categories))]
    top_value = _nice_max(max(totals, default=0))
    body: list[str] = []
    for i, cat in enumerate(chart.categories):
        y = top + i * row_h
        body.append(
            f'<text x="{_num(label_w - 6)}" y="{_num(y + 14)}" font-size="12" '
            f'text-anchor="end">{escape(cat[:28])}</text>'
        )
        x = label_w
        for s, (name, vals) in enumerate(chart.series):
            w = plot_w * vals[i] / top_value
            if w > 0:
                body.append(
                    f'<rect x="{_num(x)}" y="{_num(y + 3)}" width="{_num(w)}" '
                    f'height="{_num(row_h - 6)}" '
                    f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(cat)}, {escape(name)}: '
                    f"{_num(vals[i])}</title></rect>"
                )
            x += w
        body.append(
            f'<text x="{_num(x + 4)}" y="{_num(y + 14)}" font-size="11">{_num(totals[i])}</text>'
        )
    height = top + len(chart.categories) * row_h + 8
    body += _legend([n for n, _ in chart.series], height)
    return _frame(chart, height + 24, body)


def _axes(top_value: float, left: float, top: float, plot_w: float, plot_h: float) -> list[str]:
    out: list[str] = []
    for k in range(5):
        value = top_value * k / 4
        y = top + plot_h - plot_h * k / 4
        out.append(
            f'<line x1="{_num(left)}" y1="{_num(y)}" x2="{_num(left + plot_w)}" y2="{_num(y)}" '
            f'stroke="#d6dbe3" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{_num(left - 6)}" y="{_num(y + 4)}" font-size="11" '
            f'text-anchor="end">{_num(value)}</text>'
        )
    return out


def _x_labels(cats: Sequence[str], left: float, step: float, y: float) -> list[str]:
    every = max(1, len(cats) // 8)
    return [
        f'<text x="{_num(left + step * (i + 0.5))}" y="{_num(y)}" font-size="11" '
        f'text-anchor="middle">{escape(cat[5:])}</text>'
        for i, cat in enumerate(cats)
        if i % every == 0
    ]


def _columns(chart: Chart) -> Markup:
    left, top, plot_h = 50.0, 10.0, 180.0
    plot_w = WIDTH - left - 10
    n = max(1, len(chart.categories))
    step = plot_w / n
    totals = [sum(vals[i] for _, vals in chart.series) for i in range(len(chart.categories))]
    top_value = _nice_max(max(totals, default=0))
    body = _axes(top_value, left, top, plot_w, plot_h)
    for i, cat in enumerate(chart.categories):
        y = top + plot_h
        for s, (name, vals) in enumerate(chart.series):
            h = plot_h * vals[i] / top_value
            if h > 0:
                y -= h
                body.append(
                    f'<rect x="{_num(left + step * i + step * 0.15)}" y="{_num(y)}" '
                    f'width="{_num(step * 0.7)}" height="{_num(h)}" '
                    f'fill="{PALETTE[s % len(PALETTE)]}"><title>Week of {escape(cat)}, '
                    f"{escape(name)}: {_num(vals[i])}</title></rect>"
                )
    body += _x_labels(chart.categories, left, step, top + plot_h + 16)
    body += _legend([n for n, _ in chart.series], top + plot_h + 28)
    return _frame(chart, top + plot_h + 48, body)


def _line(chart: Chart) -> Markup:
    left, top, plot_h = 50.0, 10.0, 180.0
    plot_w = WIDTH - left - 10
    name, values = chart.series[0]
    n = max(1, len(values))
    step = plot_w / n
    top_value = _nice_max(max(values, default=0))
    body = _axes(top_value, left, top, plot_w, plot_h)
    points = [
        (left + step * (i + 0.5), top + plot_h - plot_h * v / top_value)
        for i, v in enumerate(values)
    ]
    if points:
        path = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
        body.append(
            f'<polyline points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>'
        )
        for (x, y), cat, v in zip(points, chart.categories, values, strict=True):
            body.append(
                f'<circle cx="{_num(x)}" cy="{_num(y)}" r="3.5" fill="{PALETTE[0]}">'
                f"<title>Week of {escape(cat)}: {_num(v)} {escape(chart.unit)}</title></circle>"
            )
    body += _x_labels(chart.categories, left, step, top + plot_h + 16)
    body += _legend([name], top + plot_h + 28)
    return _frame(chart, top + plot_h + 48, body)


def render_svg(chart: Chart) -> Markup:
    """Draw a chart as inline SVG markup."""
    if chart.kind == "bars":
        return _bars(chart)
    if chart.kind == "columns":
        return _columns(chart)
    return _line(chart)
