"""Read-side queries: the reviewer queue (keyset pages, facet counts) and visible tickets.

The queue is read through the indexes ix_ticket_district_status_due and ix_ticket_open_due:
each (district, status) pair is an ordered range of the first, and the open tickets of every
district together are the whole of the second, so a page is the merge of short LIMITed range
scans, never a sort over every open ticket and never OFFSET.
"""

import base64
import binascii
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from escalation.service import OPEN_STATUSES, can_work, sla_env
from escalation.sla import add_business_hours, sla_state
from models import District, Partner, Registration, Ticket, User
from models.base import UTCDateTime

PAGE_SIZE = 50
OWNER_CHOICES: tuple[str, ...] = ("me", "unassigned")
# Facet counts group every open ticket in scope; with a large backlog that costs more than the
# page itself, so each instance keeps them briefly. Slightly stale counts are harmless.
DEFAULT_COUNTS_TTL = 30.0
_counts_cache: dict[tuple[Any, ...], tuple[float, dict[str, Any]]] = {}
_counts_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in the queue order: (SLA due time, id), NULL due times last."""

    due: datetime | None
    id: int

    def encode(self) -> str:
        """Return an opaque, URL-safe form of the cursor."""
        raw = f"{self.due.isoformat() if self.due else '-'}|{self.id}"
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str | None) -> "Cursor | None":
        """Return the cursor a token stands for, or None when it is missing or malformed."""
        if not token:
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            due_text, _, id_text = raw.partition("|")
            due = None if due_text == "-" else datetime.fromisoformat(due_text)
            if due is not None and due.tzinfo is None:
                return None
            return cls(due, int(id_text))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None


@dataclass
class QueueFilters:
    """What the reviewer asked the queue to show."""

    type: str | None = None
    rule: str | None = None
    district: str | None = None
    level: int | None = None
    status: str | None = None
    owner: str | None = None  # "me", "unassigned" or None for anyone
    overdue: bool = False
    due_soon: bool = False
    after: str | None = None

    def query_args(self, **override: Any) -> dict[str, Any]:
        """Return the filters as URL query arguments (empty ones left out)."""
        args: dict[str, Any] = {
            "type": self.type,
            "rule": self.rule,
            "district": self.district,
            "level": self.level,
            "status": self.status,
            "owner": self.owner,
            "overdue": "1" if self.overdue else None,
            "due_soon": "1" if self.due_soon else None,
            "after": self.after,
        }
        args.update(override)
        return {k: v for k, v in args.items() if v not in (None, "")}


@dataclass
class QueueRow:
    """One ticket as the queue shows it."""

    ticket: Ticket
    customer_name: str
    partner_name: str | None
    owner_name: str | None
    sla: str | None
    workable: bool


@dataclass
class QueuePage:
    """A page of the queue with the cursor of the next page and the facet counts."""

    rows: list[QueueRow]
    next_cursor: str | None
    counts: dict[str, Any] = field(default_factory=dict)
    districts: list[str] | None = None  # the reviewer's scope; None means every district


def queue_districts(sess: Session, user: User) -> list[str] | None:
    """Return the districts a user's queue covers, or None for every district."""
    if user.role == "admin" or (user.level or 1) >= 3:
        return None
    own = {str(d) for d in user.districts or []}
    if (user.level or 1) == 2 and user.region:
        own |= set(
            sess.execute(sa.select(District.code).where(District.region == user.region)).scalars()
        )
    return sorted(own)


def due_soon_horizon(sess: Session, now: datetime) -> datetime:
    """Return the due time before which an open ticket counts as due soon (policy calendar)."""
    env = sla_env(sess)
    return add_business_hours(now, env.sla.warn_before_hours, env.calendar(None))


def _extra_conditions(
    filters: QueueFilters, user: User, now: datetime, horizon: datetime
) -> list[Any]:
    conds: list[Any] = []
    if filters.type:
        conds.append(Ticket.type == filters.type)
    if filters.rule:
        conds.append(Ticket.rule == filters.rule)
    if filters.level:
        conds.append(Ticket.level == filters.level)
    if filters.owner == "unassigned":
        conds.append(Ticket.owner_id.is_(None))
    if filters.overdue:
        conds.append(Ticket.sla_due_at < now)
    if filters.due_soon:
        conds.append(sa.and_(Ticket.sla_due_at >= now, Ticket.sla_due_at < horizon))
    return conds


def _bases(user: User, filters: QueueFilters, scope: list[str] | None) -> list[list[Any]]:
    """Return one list of equality conditions per index range the page merges."""
    statuses = [filters.status] if filters.status in OPEN_STATUSES else list(OPEN_STATUSES)
    if filters.owner == "me":
        # A reviewer's own tickets are few: the owner index finds them wherever they are.
        return [[Ticket.owner_id == user.id, Ticket.status.in_(statuses)]]
    if filters.district:
        districts: list[str] | None = (
            [filters.district] if scope is None or filters.district in scope else []
        )
    else:
        districts = scope
    if districts is None:
        # Every district: one range of ix_ticket_open_due, which holds the open tickets only.
        return [[Ticket.status.in_(statuses)]]
    return [[Ticket.district == d, Ticket.status == s] for d in districts for s in statuses]


def _merge(sess: Session, selects: list[Any], order: list[str], limit: int) -> list[Any]:
    if not selects:
        return []
    if len(selects) == 1:
        return list(sess.execute(selects[0]).all())
    # SQLite refuses ORDER BY/LIMIT inside a compound SELECT; wrapping each branch works on both.
    parts = [sa.select(*s.subquery().c) for s in selects]
    union = sa.union_all(*parts).subquery()
    stmt = sa.select(*union.c).order_by(*(union.c[name] for name in order)).limit(limit)
    return list(sess.execute(stmt).all())


def keyset_ids(
    sess: Session,
    bases: Sequence[Sequence[Any]],
    extra: Sequence[Any],
    cursor: Cursor | None,
    limit: int,
) -> list[tuple[int, datetime | None]]:
    """Return up to limit (id, due) pairs after the cursor, by (due, id) with NULL dues last."""
    rows: list[tuple[int, datetime | None]] = []
    due_col, id_col = Ticket.sla_due_at, Ticket.id
    if cursor is None or cursor.due is not None:
        after: list[Any] = []
        if cursor is not None:
            after.append(
                sa.tuple_(due_col, id_col)
                > sa.tuple_(sa.literal(cursor.due, UTCDateTime()), sa.literal(cursor.id))
            )
        selects = [
            sa.select(id_col.label("id"), due_col.label("due"))
            .where(*base, due_col.is_not(None), *extra, *after)
            .order_by(due_col, id_col)
            .limit(limit)
            for base in bases
        ]
        rows.extend((r[0], r[1]) for r in _merge(sess, selects, ["due", "id"], limit))
    if len(rows) < limit:
        after_id = [id_col > cursor.id] if cursor is not None and cursor.due is None else []
        selects = [
            sa.select(id_col.label("id"), due_col.label("due"))
            .where(*base, due_col.is_(None), *extra, *after_id)
            .order_by(id_col)
            .limit(limit - len(rows))
            for base in bases
        ]
        rows.extend((r[0], None) for r in _merge(sess, selects, ["id"], limit - len(rows)))
    return rows


def _counts_ttl() -> float:
    if not has_app_context():
        return 0.0
    default = 0.0 if current_app.testing else DEFAULT_COUNTS_TTL
    return float(current_app.config.get("QUEUE_COUNTS_TTL_SECONDS", default))


def _scope_counts(
    sess: Session, scope: list[str] | None, now: datetime, horizon: datetime
) -> dict[str, Any]:
    """Return facet counts over the open tickets of a scope (cached per instance briefly)."""
    ttl = _counts_ttl()
    key = (str(sess.get_bind().url), tuple(scope) if scope is not None else None)
    if ttl > 0:
        with _counts_lock:
            hit = _counts_cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < ttl:
            return hit[1] | {"fresh": False}
    unassigned = sa.case((Ticket.owner_id.is_(None), 1), else_=0)
    overdue = sa.case((Ticket.sla_due_at < now, 1), else_=0)
    soon = sa.case((sa.and_(Ticket.sla_due_at >= now, Ticket.sla_due_at < horizon), 1), else_=0)
    stmt = sa.select(
        Ticket.type,
        Ticket.rule,
        Ticket.district,
        Ticket.level,
        Ticket.status,
        sa.func.count(),
        sa.func.sum(unassigned),
        sa.func.sum(overdue),
        sa.func.sum(soon),
    ).where(Ticket.status.in_(OPEN_STATUSES))
    if scope is not None:
        stmt = stmt.where(Ticket.district.in_(scope))
    stmt = stmt.group_by(Ticket.type, Ticket.rule, Ticket.district, Ticket.level, Ticket.status)
    facets: dict[str, dict[Any, int]] = {
        k: defaultdict(int) for k in ("type", "rule", "district", "level", "status")
    }
    totals = {"total": 0, "unassigned": 0, "overdue": 0, "due_soon": 0}
    for ttype, rule, district, level, status, n, n_un, n_over, n_soon in sess.execute(stmt):
        facets["type"][ttype] += n
        facets["rule"][rule] += n
        facets["district"][district or ""] += n
        facets["level"][level] += n
        facets["status"][status] += n
        totals["total"] += n
        totals["unassigned"] += int(n_un or 0)
        totals["overdue"] += int(n_over or 0)
        totals["due_soon"] += int(n_soon or 0)
    result: dict[str, Any] = {
        k: dict(sorted(v.items(), key=lambda kv: str(kv[0]))) for k, v in facets.items()
    } | {"totals": totals, "fresh": True}
    if ttl > 0:
        with _counts_lock:
            _counts_cache[key] = (time.monotonic(), result)
    return result


def queue_counts(
    sess: Session, user: User, scope: list[str] | None, now: datetime, horizon: datetime
) -> dict[str, Any]:
    """Return how many open tickets in the reviewer's scope have each filter value."""
    counts = _scope_counts(sess, scope, now, horizon)
    # "Mine" is personal and cheap (the owner index), so it is always counted fresh; it
    # includes tickets owned outside the territory, such as a Gold coordinator's.
    mine = sess.execute(
        sa.select(sa.func.count()).where(
            Ticket.owner_id == user.id, Ticket.status.in_(OPEN_STATUSES)
        )
    ).scalar_one()
    return counts | {"totals": counts["totals"] | {"me": int(mine)}}


def _known_empty(filters: QueueFilters, counts: dict[str, Any]) -> bool:
    """Return True when fresh counts show no open ticket in scope has a chosen filter value."""
    # Cached counts may miss a ticket opened since; a reviewer's own tickets may lie outside
    # the scope the counts cover.
    if not counts.get("fresh") or filters.owner == "me":
        return False
    chosen = {
        "type": filters.type,
        "rule": filters.rule,
        "level": filters.level,
        "district": filters.district,
    }
    return any(
        value is not None and not counts.get(facet, {}).get(value)
        for facet, value in chosen.items()
    )


def queue_page(
    sess: Session,
    user: User,
    filters: QueueFilters,
    now: datetime,
    *,
    limit: int = PAGE_SIZE,
    with_counts: bool = True,
) -> QueuePage:
    """Return one page of the reviewer's queue, most urgent first."""
    scope = queue_districts(sess, user)
    horizon = due_soon_horizon(sess, now)
    bases = _bases(user, filters, scope)
    extra = _extra_conditions(filters, user, now, horizon)
    counts = queue_counts(sess, user, scope, now, horizon) if with_counts else {}
    # The counts already say when a filter matches nothing; skip scanning for it then.
    if _known_empty(filters, counts):
        ids: list[tuple[int, datetime | None]] = []
    else:
        ids = keyset_ids(sess, bases, extra, Cursor.decode(filters.after), limit + 1)
    next_cursor = (
        Cursor(ids[limit - 1][1], ids[limit - 1][0]).encode() if len(ids) > limit else None
    )
    ids = ids[:limit]
    rows = _rows(sess, user, [i for i, _ in ids], now)
    return QueuePage(rows=rows, next_cursor=next_cursor, counts=counts, districts=scope)


def _rows(sess: Session, user: User, ids: list[int], now: datetime) -> list[QueueRow]:
    if not ids:
        return []
    tickets = {t.id: t for t in sess.execute(sa.select(Ticket).where(Ticket.id.in_(ids))).scalars()}
    reg_ids = {t.registration_id for t in tickets.values()}
    customers: dict[int, str] = dict(
        sess.execute(
            sa.select(Registration.id, Registration.customer_name).where(
                Registration.id.in_(reg_ids)
            )
        ).all()
    )
    partner_ids = {t.partner_id for t in tickets.values() if t.partner_id}
    partners: dict[int, str] = (
        dict(
            sess.execute(
                sa.select(Partner.id, Partner.name).where(Partner.id.in_(partner_ids))
            ).all()
        )
        if partner_ids
        else {}
    )
    owner_ids = {t.owner_id for t in tickets.values() if t.owner_id}
    owners = {
        u.id: u.display_name
        for u in (
            sess.execute(sa.select(User).where(User.id.in_(owner_ids))).scalars()
            if owner_ids
            else []
        )
    }
    env = sla_env(sess)
    out: list[QueueRow] = []
    for tid in ids:
        t = tickets[tid]
        state = None
        if t.sla_due_at is not None:
            state = sla_state(now, t.sla_due_at, env.sla, env.calendar(t.district)).value
        out.append(
            QueueRow(
                ticket=t,
                customer_name=customers.get(t.registration_id, ""),
                partner_name=partners.get(t.partner_id) if t.partner_id else None,
                owner_name=owners.get(t.owner_id) if t.owner_id else None,
                sla=state,
                workable=can_work(user, t),
            )
        )
    return out


def visible_clause(sess: Session, user: User) -> Any:
    """Return a WHERE clause limiting tickets to those the user may see (None: all)."""
    if user.role == "admin" or (user.role == "reviewer" and (user.level or 1) >= 3):
        return None
    if user.role == "partner":
        if user.partner_id is None:
            return sa.false()
        return sa.or_(
            Ticket.partner_id == user.partner_id, Ticket.other_partner_id == user.partner_id
        )
    if user.role == "mcs":
        own = sa.select(Registration.id).where(Registration.submitted_by_id == user.id)
        return sa.or_(
            Ticket.mcs_owner_email == user.email.lower(),
            Ticket.registration_id.in_(own),
            Ticket.other_registration_id.in_(own),
        )
    if user.role == "reviewer":
        districts = [str(d) for d in user.districts or []]
        conds = [Ticket.owner_id == user.id]
        if districts:
            conds.append(Ticket.district.in_(districts))
        if (user.level or 1) == 2 and user.region:
            conds.append(Ticket.region == user.region)
        return sa.or_(*conds)
    return sa.false()


def visible_tickets(
    sess: Session,
    user: User,
    *,
    status: str | None = None,
    rule: str | None = None,
    district: str | None = None,
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> tuple[list[Ticket], int | None]:
    """Return visible tickets newest first after a keyset position, and the next position."""
    stmt = sa.select(Ticket)
    clause = visible_clause(sess, user)
    if clause is not None:
        stmt = stmt.where(clause)
    if status:
        stmt = stmt.where(Ticket.status == status)
    if rule:
        stmt = stmt.where(Ticket.rule == rule)
    if district:
        stmt = stmt.where(Ticket.district == district)
    if before_id is not None:
        stmt = stmt.where(Ticket.id < before_id)
    tickets = list(sess.execute(stmt.order_by(Ticket.id.desc()).limit(limit + 1)).scalars())
    next_id = tickets[limit - 1].id if len(tickets) > limit else None
    return tickets[:limit], next_id
