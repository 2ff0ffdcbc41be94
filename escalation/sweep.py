"""The SLA sweep: escalate every overdue open ticket one level, set-based, once per level.

The routing and business-calendar rules live in Python, so a sweep reads what they need once
(reviewers with their open work, active Gold coordinators, the SLA calendars, the webhook
endpoints) and hands them to the statements of its database:

* PostgreSQL (``escalation.sweep_pg``): one statement locks the overdue tickets
  (``FOR NO KEY UPDATE SKIP LOCKED``: rows another sweep or a person holds are left for the
  next run), gives each its new owner and due time, moves it up, writes its timeline event and
  one webhook fan-out row per endpoint (``escalation.fanout``);
* SQLite (``escalation.sweep_sqlite``): writers are ordered by ``BEGIN IMMEDIATE``, and grouped
  UPDATEs re-check that each ticket is still overdue at the planned level.

New owners are spread per place (new level, district, region), most urgent place and ticket
first, over the reviewers who may own them there, the load carrying over from one place to
the next; an active Gold partner's coordinator keeps the partner's tickets. Level 3 is the top:
an overdue national ticket is marked breached instead, once. Each owner gets one summary e-mail
per sweep and the sweep writes one audit event; the per-ticket trail is the timeline. A ticket
whose owner is missing or inactive is announced to the active reviewers covering its level and
place instead, as a manual escalation does; they find it in the same one e-mail.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from escalation import notify, sweep_pg, sweep_sqlite
from escalation.routing import Place, Reviewer, active_coordinators
from escalation.service import (
    SlaEnv,
    _chunks,
    _reviewers,
    covers_place,
    sla_env,
    ticket_path,
)
from models import Partner, Ticket, User, WebhookEndpoint
from models.audit_log import record_audit
from models.db import is_postgres
from models.partner import GOLD_POINTS

EVENT = "ticket.escalated"
# Emails that list escalated tickets name at most this many; the queue link shows the rest.
SUMMARY_IDS = 20

DueKey = tuple[str, int, str | None]  # (ticket type, new level, district)
ByOwner = dict[int | None, list[int]]  # owner (None: nobody) -> ticket ids


@dataclass(frozen=True)
class Wording:
    """How a summary e-mail puts what happened, to owners and to those covering for nobody."""

    subject: str
    headline: str
    unowned_subject: str
    unowned_headline: str


BREACHED = Wording(
    subject="[ChannelGuard] {n} ticket(s) breached the national SLA",
    headline="{n} ticket(s) you own ran past the national (level 3) SLA.",
    unowned_subject="[ChannelGuard] {n} unowned ticket(s) breached the national SLA",
    unowned_headline=(
        "{n} ticket(s) in your territory with no active owner ran past the national (level 3) SLA."
    ),
)
ESCALATED = Wording(
    subject="[ChannelGuard] {n} ticket(s) escalated to you",
    headline="{n} ticket(s) ran past their SLA and were escalated to you.",
    unowned_subject="[ChannelGuard] {n} unowned ticket(s) escalated to your level",
    unowned_headline=(
        "{n} ticket(s) in your territory ran past their SLA and were escalated to your level "
        "with no owner."
    ),
)


@dataclass
class SweepContext:
    """What a sweep's statements need from the routing and SLA rules, read once."""

    now: datetime
    reviewers: list[Reviewer]
    gold: dict[int, int]  # partner id -> active coordinator
    env: SlaEnv
    endpoints: list[WebhookEndpoint]
    _dues: dict[DueKey, datetime] = field(default_factory=dict)

    def due(self, key: DueKey) -> datetime:
        """Return when the new level's SLA runs out for a ticket escalated now."""
        if key not in self._dues:
            ticket_type, level, district = key
            self._dues[key] = self.env.due(self.now, level, ticket_type, district)
        return self._dues[key]


def escalate_overdue(sess: Session, now: datetime) -> int:
    """Escalate every open ticket past its SLA by one level (level 3: mark breached); set-based.

    The level change re-checks that each ticket is still overdue at the level planned, so a
    ticket that a concurrent sweep (or a person) moved in the meantime is skipped rather than
    moved twice.
    """
    # Bulk statements bypass the identity map; push pending changes first so nothing is lost.
    sess.flush()
    statements = sweep_pg if is_postgres(sess) else sweep_sqlite
    breached = statements.mark_breached(sess, now)
    _summary_emails(sess, breached, event="ticket.breached", wording=BREACHED)
    moved = statements.escalate(sess, _context(sess, now))
    _summary_emails(sess, moved, event=EVENT, wording=ESCALATED)
    escalated = sorted(tid for ids in moved.values() for tid in ids)
    breached_ids = sorted(tid for ids in breached.values() for tid in ids)
    if escalated or breached_ids:
        record_audit(
            sess,
            None,
            "tickets.escalate_overdue",
            "job",
            "escalate_overdue",
            at=now.isoformat(),
            escalated=len(escalated),
            breached=len(breached_ids),
            ticket_ids=escalated[:1000],
            breached_ids=breached_ids[:1000],
        )
    # The ORM copies of these rows are stale after the bulk UPDATEs.
    sess.expire_all()
    return len(escalated) + len(breached_ids)


def _context(sess: Session, now: datetime) -> SweepContext:
    reviewers = _reviewers(sess)
    return SweepContext(
        now=now,
        reviewers=reviewers,
        gold=active_coordinators(reviewers, _gold_coordinators(sess)),
        env=sla_env(sess),
        endpoints=_webhook_endpoints(sess, EVENT),
    )


def _gold_coordinators(sess: Session) -> dict[int, int]:
    """Return partner id -> technical coordinator id for every Gold partner that has one."""
    rows = sess.execute(
        sa.select(col(Partner.id), col(Partner.technical_coordinator_id)).where(
            col(Partner.points) >= GOLD_POINTS, col(Partner.technical_coordinator_id).is_not(None)
        )
    ).all()
    return {pid: uid for pid, uid in rows if pid is not None and uid is not None}


def _webhook_endpoints(sess: Session, event: str) -> list[WebhookEndpoint]:
    """Return the endpoints that take an event (enabled, or holding events while disabled)."""
    return [ep for ep in notify.enabled_endpoints(sess) if not ep.events or event in ep.events]


def _summary_emails(sess: Session, by_owner: ByOwner, *, event: str, wording: Wording) -> None:
    """Send each person one e-mail naming the tickets a sweep handed them or left unowned."""
    owners = _accounts(sess, [owner for owner, ids in by_owner.items() if owner and ids])
    people: dict[int, User] = {}
    owned: dict[int, list[int]] = defaultdict(list)
    unowned: list[int] = []
    for owner_id, ids in by_owner.items():
        user = owners.get(owner_id) if owner_id is not None else None
        if not ids:
            continue
        if owner_id is not None and user is not None and user.is_active:
            people[owner_id] = user
            owned[owner_id].extend(ids)
        else:
            unowned.extend(ids)
    covered: dict[int, list[int]] = defaultdict(list)
    for user_id, (user, ids) in _covering_reviewers(sess, unowned).items():
        people[user_id] = user
        covered[user_id].extend(ids)
    for user_id in sorted(people):
        _summary_email(
            sess,
            people[user_id],
            sorted(owned.get(user_id, [])),
            sorted(covered.get(user_id, [])),
            event=event,
            wording=wording,
        )


def _accounts(sess: Session, user_ids: list[int]) -> dict[int, User]:
    """Return the accounts of some user ids (ids with no account are left out)."""
    if not user_ids:
        return {}
    rows = sess.execute(sa.select(User).where(col(User.id).in_(user_ids))).scalars()
    return {u.id: u for u in rows if u.id is not None}


def _covering_reviewers(
    sess: Session, ticket_ids: Iterable[int]
) -> dict[int, tuple[User, list[int]]]:
    """Return user id -> (active reviewer, the tickets whose level and place they cover)."""
    t = Ticket.__table__.c  # type: ignore[attr-defined]
    places: dict[Place, list[int]] = defaultdict(list)
    for chunk in _chunks(sorted(set(ticket_ids))):
        rows = sess.execute(sa.select(t.id, t.level, t.district, t.region).where(t.id.in_(chunk)))
        for ticket_id, level, district, region in rows:
            places[(level, district, region)].append(ticket_id)
    # The reviewers are read once for the run; each place keeps those of its level covering it
    # (the rule of escalation.service._territory_reviewers, from the columns just read).
    reviewers = list(
        sess.execute(
            sa.select(User)
            .where(col(User.role) == "reviewer", col(User.is_active).is_(True))
            .order_by(col(User.id))
        ).scalars()
    )
    by_user: dict[int, tuple[User, list[int]]] = {}
    for (level, district, region), ids in places.items():
        for user in reviewers:
            if user.id is not None and user.level == level and covers_place(user, district, region):
                by_user.setdefault(user.id, (user, []))[1].extend(ids)
    return by_user


def _summary_email(
    sess: Session,
    user: User,
    owned: list[int],
    unowned: list[int],
    *,
    event: str,
    wording: Wording,
) -> None:
    """Queue one person's summary: the tickets they own, then those with no active owner."""
    if owned:
        subject, headline, n = wording.subject, wording.headline, len(owned)
        lines = [f"Tickets: {_ticket_list(owned)}."]
        if unowned:
            lines.append(f"Also in your territory, with no active owner: {_ticket_list(unowned)}.")
    else:
        subject, headline, n = wording.unowned_subject, wording.unowned_headline, len(unowned)
        lines = [f"Tickets: {_ticket_list(unowned)}."]
    ids = [*owned, *unowned]
    notify.enqueue_email(
        sess,
        event=event,
        template="ticket_escalated",
        subject=subject.format(n=n),
        context={
            "headline": headline.format(n=n),
            "lines": lines,
            "url": notify.absolute_url(ticket_path(ids[0]) if len(ids) == 1 else "/queue"),
            "ticket_id": ids[0] if len(ids) == 1 else None,
            "registration_id": None,
            "customer_name": "",
            "rule": None,
            "level": None,
            "resolution": None,
            "due_at": None,
            # The same template tells breaches: its opening sentence must say which it is.
            "breached": event == "ticket.breached",
        },
        user=user,
    )


def _ticket_list(ids: list[int]) -> str:
    """Name at most SUMMARY_IDS tickets and count the rest."""
    shown = ", ".join(f"#{i}" for i in ids[:SUMMARY_IDS])
    more = f" and {len(ids) - SUMMARY_IDS} more" if len(ids) > SUMMARY_IDS else ""
    return f"{shown}{more}"
