"""Read-side queries: the reviewer queue (keyset pages, facet counts) and visible tickets.

The queue is read through the indexes ix_ticket_district_status_due and ix_ticket_open_due:
each (district, status) pair is an ordered range of the first, and the open tickets of every
district together are the whole of the second, so a page is the merge of short LIMITed range
scans, never a sort over every open ticket and never OFFSET. A reviewer's queue is their
territory and the open tickets they own wherever those lie (a Gold partner's technical
coordinator owns tickets in any district): the owned tickets outside the territory are one more
read, of the page's stretch of ix_ticket_open_due when the territory fills the page, else of
ix_ticket_owner_status (see _owned_ids).

Facet counts over a territory are cached per process for a few seconds, but never across the
signed-in user's own change: every commit that writes tickets during a signed-in request stamps
the user's session (see _stamp_own_change), and counts read before that stamp are read again.
The stamp travels with the user's cookie, so it holds whichever worker answers next.
"""

import base64
import binascii
import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import flask
import sqlalchemy as sa
from flask import current_app, has_app_context, has_request_context
from sqlalchemy.orm import Session

from escalation.service import OPEN_STATUSES, can_work, sla_env
from escalation.sla import add_business_hours, sla_state
from models import District, Partner, Registration, Ticket, User
from models.base import UTCDateTime

PAGE_SIZE = 50
OWNER_CHOICES: tuple[str, ...] = ("me", "unassigned")
# Facet counts group every open ticket in scope; with a large backlog that costs more than the
# page itself, so each instance keeps them briefly. Counts a little behind other people's work
# are harmless (the page says how old they are); counts behind the user's own change are not.
DEFAULT_COUNTS_TTL = 30.0
# Cache entries: key -> (monotonic time read, epoch time read, counts).
_counts_cache: dict[tuple[Any, ...], tuple[float, float, dict[str, Any]]] = {}
_counts_lock = threading.Lock()
# The session key holding when (epoch seconds) the signed-in user last changed tickets.
OWN_CHANGE_KEY = "queue_changed_at"
_WROTE_TICKETS = "queue_wrote_tickets"
_BEGAN_AT = "queue_began_at"


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


def _outside(scope: list[str]) -> Any:
    """Return the condition "the ticket lies outside these districts" (no district: outside)."""
    if not scope:
        return sa.true()
    return sa.or_(Ticket.district.is_(None), Ticket.district.not_in(scope))


def _bases(user: User, filters: QueueFilters, scope: list[str] | None) -> list[list[Any]]:
    """Return one list of equality conditions per index range the page merges."""
    statuses = [filters.status] if filters.status in OPEN_STATUSES else list(OPEN_STATUSES)
    if filters.owner == "me":
        # A reviewer's own tickets are few: the owner index finds them wherever they are.
        return [_mine(user, filters, statuses)]
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


def _mine(user: User, filters: QueueFilters, statuses: Sequence[str]) -> list[Any]:
    conds: list[Any] = [Ticket.owner_id == user.id, Ticket.status.in_(statuses)]
    if filters.district:
        conds.append(Ticket.district == filters.district)
    return conds


def _elsewhere(user: User, filters: QueueFilters, scope: list[str] | None) -> list[Any] | None:
    """Return the conditions of the reviewer's own tickets outside the territory the ranges
    of _bases cover, or None when that set is empty by construction."""
    if scope is None or filters.owner in ("me", "unassigned"):
        # Every district is covered; "me" reads the owner index itself; "unassigned" leaves
        # no owned ticket.
        return None
    if filters.district and filters.district in scope:
        return None
    statuses = [filters.status] if filters.status in OPEN_STATUSES else list(OPEN_STATUSES)
    return [*_mine(user, filters, statuses), _outside(scope)]


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


def _owned_ids(
    sess: Session,
    where: Sequence[Any],
    cursor: Cursor | None,
    limit: int,
    *,
    until: datetime | None = None,
) -> list[tuple[int, datetime | None]]:
    """Return up to limit (id, due) pairs after the cursor, in queue order, of the reviewer's
    own tickets matching where (due no later than until, when given).

    With until, a LIMITed read in due order along ix_ticket_open_due walks at most the open
    tickets between the cursor and until, the stretch of the queue the page covers. Without
    it the set is read whole, with no ORDER BY, from ix_ticket_owner_status: ordered and
    LIMITed with no upper bound, PostgreSQL may walk ix_ticket_open_due past every open
    ticket looking for rows of a set that is empty or nearly so.
    """
    due_col, id_col = Ticket.sla_due_at, Ticket.id
    after_due: list[Any] = []
    if cursor is not None and cursor.due is not None:
        after_due.append(
            sa.tuple_(due_col, id_col)
            > sa.tuple_(sa.literal(cursor.due, UTCDateTime()), sa.literal(cursor.id))
        )
    if until is not None:
        stmt = (
            sa.select(id_col, due_col)
            .where(*where, due_col.is_not(None), due_col <= until, *after_due)
            .order_by(due_col, id_col)
            .limit(limit)
        )
        return [(r[0], r[1]) for r in sess.execute(stmt)]
    if cursor is not None and cursor.due is None:
        after = [sa.and_(due_col.is_(None), id_col > cursor.id)]
    elif after_due:
        # Rows without a due time come after every dated one.
        after = [sa.or_(due_col.is_(None), *after_due)]
    else:
        after = []
    rows = [(r[0], r[1]) for r in sess.execute(sa.select(id_col, due_col).where(*where, *after))]
    return sorted(rows, key=_queue_order)[:limit]


def _queue_order(row: tuple[int, datetime | None]) -> tuple[bool, datetime, int]:
    return (row[1] is None, row[1] or datetime.min.replace(tzinfo=UTC), row[0])


def _counts_ttl() -> float:
    if not has_app_context():
        return 0.0
    default = 0.0 if current_app.testing else DEFAULT_COUNTS_TTL
    return float(current_app.config.get("QUEUE_COUNTS_TTL_SECONDS", default))


# --- the user's own changes --------------------------------------------------------------
# claim, assign, decide and the rest live in escalation.service and are called from several
# pages and the API; rather than each remembering to invalidate the counts, the session notes
# any flush that writes a ticket, and the commit stamps the signed-in user's web session.


def _note_ticket_writes(session: Session, _flush_context: Any) -> None:
    if not has_request_context() or session.info.get(_WROTE_TICKETS):
        return
    changed = itertools.chain(session.new, session.dirty, session.deleted)
    if any(isinstance(obj, Ticket) for obj in changed):
        session.info[_WROTE_TICKETS] = True


def _stamp_own_change(session: Session) -> None:
    if not session.info.pop(_WROTE_TICKETS, False) or not has_request_context():
        return
    # Only a signed-in browser session carries the stamp; an API call has no cookie to set.
    if "_user_id" in flask.session:
        flask.session[OWN_CHANGE_KEY] = time.time()


def _forget_ticket_writes(session: Session, *_args: Any) -> None:
    session.info.pop(_WROTE_TICKETS, None)


def _note_begin(session: Session, *_args: Any) -> None:
    # Counts read in a transaction reflect at least what was committed when it began
    # (SQLite reads one snapshot per transaction; PostgreSQL a newer one per statement).
    session.info[_BEGAN_AT] = time.time()


sa.event.listen(Session, "after_flush", _note_ticket_writes)
sa.event.listen(Session, "after_commit", _stamp_own_change)
sa.event.listen(Session, "after_rollback", _forget_ticket_writes)
sa.event.listen(Session, "after_begin", _note_begin)


def own_change_stamp() -> float | None:
    """Return when the signed-in user last changed tickets (epoch seconds), if known."""
    value = flask.session.get(OWN_CHANGE_KEY) if has_request_context() else None
    return float(value) if isinstance(value, int | float) else None


def _read_at(sess: Session) -> float:
    """Return an epoch time no later than the snapshot the session's next read sees."""
    sess.connection()  # begins the transaction (and records when) if none is open yet
    began = sess.info.get(_BEGAN_AT)
    return min(float(began), time.time()) if began is not None else time.time()


# --- facet counts ------------------------------------------------------------------------


def _facet_rows(
    sess: Session,
    where: Sequence[Any],
    now: datetime,
    horizon: datetime,
    *,
    by_owner: bool = False,
) -> list[Any]:
    """Return the open tickets matching where, grouped by every facet (and by owner when
    asked, as a last column), with their counts."""
    unassigned = sa.case((Ticket.owner_id.is_(None), 1), else_=0)
    overdue = sa.case((Ticket.sla_due_at < now, 1), else_=0)
    soon = sa.case((sa.and_(Ticket.sla_due_at >= now, Ticket.sla_due_at < horizon), 1), else_=0)
    keys: list[Any] = [Ticket.type, Ticket.rule, Ticket.district, Ticket.level, Ticket.status]
    owner = [Ticket.owner_id] if by_owner else []
    stmt = (
        sa.select(
            *keys,
            sa.func.count(),
            sa.func.sum(unassigned),
            sa.func.sum(overdue),
            sa.func.sum(soon),
            *owner,
        )
        .where(Ticket.status.in_(OPEN_STATUSES), *where)
        .group_by(*keys, *owner)
    )
    return list(sess.execute(stmt).all())


def _tally(rows: Sequence[Any]) -> dict[str, Any]:
    """Return facet counts and totals from grouped rows (see _facet_rows); rows grouped by
    owner also give "owned", the open tickets of each owner among them."""
    facets: dict[str, dict[Any, int]] = {
        k: defaultdict(int) for k in ("type", "rule", "district", "level", "status")
    }
    totals = {"total": 0, "unassigned": 0, "overdue": 0, "due_soon": 0}
    owned: dict[int, int] = defaultdict(int)
    for row in rows:
        ttype, rule, district, level, status, n, n_un, n_over, n_soon = row[:9]
        facets["type"][ttype] += n
        facets["rule"][rule] += n
        facets["district"][district or ""] += n
        facets["level"][level] += n
        facets["status"][status] += n
        totals["total"] += n
        totals["unassigned"] += int(n_un or 0)
        totals["overdue"] += int(n_over or 0)
        totals["due_soon"] += int(n_soon or 0)
        if len(row) > 9 and row[9] is not None:
            owned[row[9]] += n
    counts = {k: dict(v) for k, v in facets.items()} | {"totals": totals, "owned": dict(owned)}
    return _sorted_facets(counts)


def _sorted_facets(counts: dict[str, Any]) -> dict[str, Any]:
    return counts | {
        k: dict(sorted(counts[k].items(), key=lambda kv: str(kv[0])))
        for k in ("type", "rule", "district", "level", "status")
    }


def _add_counts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Return the facet counts and totals of two disjoint sets of tickets together."""
    out = dict(a)
    for k in ("type", "rule", "district", "level", "status", "totals", "owned"):
        merged = dict(a.get(k, {}))
        for value, n in b.get(k, {}).items():
            merged[value] = merged.get(value, 0) + n
        out[k] = merged
    return _sorted_facets(out)


def _scope_counts(
    sess: Session,
    scope: list[str] | None,
    now: datetime,
    horizon: datetime,
    *,
    not_before: float | None = None,
) -> dict[str, Any]:
    """Return facet counts over the open tickets of a scope (cached per instance briefly).

    A cached entry read before not_before (the user's own last change) is read again.
    "fresh" says whether the counts were read now, "as_of" when they were read, and (for a
    list of districts) "owned" how many of the tickets each reviewer owns.
    """
    if scope is not None and not scope:
        # No territory (such as a Gold partner's technical coordinator): nothing to count.
        return _tally([]) | {"fresh": True, "as_of": None}
    ttl = _counts_ttl()
    key = (str(sess.get_bind().url), tuple(scope) if scope is not None else None)
    if ttl > 0:
        with _counts_lock:
            hit = _counts_cache.get(key)
        if (
            hit is not None
            and time.monotonic() - hit[0] < ttl
            and (not_before is None or hit[1] >= not_before)
        ):
            return hit[2] | {"fresh": False}
    read_at = _read_at(sess)
    if scope is None:
        rows = _facet_rows(sess, [], now, horizon)
    else:
        rows = _facet_rows(sess, [Ticket.district.in_(scope)], now, horizon, by_owner=True)
    result = _tally(rows) | {"fresh": True, "as_of": datetime.fromtimestamp(read_at, UTC)}
    if ttl > 0:
        with _counts_lock:
            _counts_cache[key] = (time.monotonic(), read_at, result)
    return result


def queue_counts(
    sess: Session,
    user: User,
    scope: list[str] | None,
    now: datetime,
    horizon: datetime,
    *,
    not_before: float | None = None,
) -> dict[str, Any]:
    """Return how many open tickets of the reviewer's queue have each filter value.

    The queue is the scope's tickets (counts possibly cached, see _scope_counts) and the
    reviewer's own tickets outside it. totals["me"] counts every open ticket the reviewer
    owns, always now from the owner index alone; totals["elsewhere"] those outside the scope.
    """
    counts = _scope_counts(sess, scope, now, horizon, not_before=not_before)
    mine = int(
        sess.execute(
            sa.select(sa.func.count()).where(
                Ticket.owner_id == user.id, Ticket.status.in_(OPEN_STATUSES)
            )
        ).scalar_one()
    )
    elsewhere = 0
    # Reading the owned tickets' districts visits every one of them (a district reviewer may
    # own thousands), so it is done only when the scope's counts leave some of "mine"
    # unaccounted for: exact with fresh counts; cached ones are marked as such on the page.
    if scope is not None and mine > counts["owned"].get(user.id, 0):
        outside = _tally(
            _facet_rows(sess, [Ticket.owner_id == user.id, _outside(scope)], now, horizon)
        )
        elsewhere = outside["totals"]["total"]
        if elsewhere:
            counts = _add_counts(counts, outside)
    return counts | {"totals": counts["totals"] | {"me": mine, "elsewhere": elsewhere}}


def _known_empty(filters: QueueFilters, counts: dict[str, Any]) -> bool:
    """Return True when fresh counts show no ticket of the queue has a chosen filter value."""
    # Cached counts may miss a ticket opened since. The counts cover the reviewer's own
    # tickets too (wherever they are), so they answer for "Owner: me" as well.
    if not counts.get("fresh"):
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
    counts_not_before: float | None = None,
) -> QueuePage:
    """Return one page of the reviewer's queue, most urgent first.

    counts_not_before (epoch seconds, the user's own last change) refuses cached counts
    read before it.
    """
    scope = queue_districts(sess, user)
    horizon = due_soon_horizon(sess, now)
    extra = _extra_conditions(filters, user, now, horizon)
    counts = (
        queue_counts(sess, user, scope, now, horizon, not_before=counts_not_before)
        if with_counts
        else {}
    )
    bases = _bases(user, filters, scope)
    elsewhere = _elsewhere(user, filters, scope)
    if counts and not counts["totals"]["me"]:
        elsewhere = None  # the reviewer owns no open ticket at all (counted just now)
    cursor = Cursor.decode(filters.after)
    # The counts already say when a filter matches nothing; skip scanning for it then.
    if _known_empty(filters, counts):
        ids: list[tuple[int, datetime | None]] = []
    else:
        ids = keyset_ids(sess, bases, extra, cursor, limit + 1)
        if elsewhere is not None:
            # Read live, whatever the counts say. When the territory fills the page, an owned
            # ticket due after its last row cannot be on it: that bounds the read.
            until = ids[-1][1] if len(ids) > limit else None
            own = _owned_ids(sess, [*elsewhere, *extra], cursor, limit + 1, until=until)
            ids = sorted(ids + own, key=_queue_order)[: limit + 1]
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
