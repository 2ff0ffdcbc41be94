"""Ticket operations: open, claim, assign, comment, decide, escalate, reopen, and the SLA jobs.

Every function takes the session first and never commits: the request, command or job that
called it commits once. Each change appends a timeline event, an audit event and the outbox rows
for the notifications it causes, so a rolled-back change leaves no trace and sends nothing.
"""

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from conflict.rules import OTHER_SIDE_RULES, PARTNER_OVERLAP, other_side_message
from conflict.types import PAIRWISE_RULES, RULE_TITLES
from escalation import notify
from escalation.routing import Reviewer, balance, escalation_owner, pick_owner
from escalation.sla import BusinessCalendar, SlaPolicy, add_business_hours, due_at
from escalation.states import (
    EVENT_KIND_BY_ACTION,
    LEVEL_NAMES,
    RESOLUTION_LABELS,
    Action,
    InvalidDecision,
    InvalidTransition,
    Resolution,
    TicketStatus,
    TicketType,
    next_level,
    opening_level,
    registration_status_after,
    transition,
    validate_decision,
)
from escalation.ticket_people import read_ticket_people
from models import (
    ConflictFinding,
    District,
    Partner,
    PolicyVersion,
    Registration,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)
from models.audit_log import record_audit
from models.base import forget_per_transaction, per_transaction
from models.db import is_postgres
from models.policy import PolicyData, active_policy

log = logging.getLogger(__name__)

__all__ = [
    "EXCEPTION_RULES",
    "OPEN_STATUSES",
    "InvalidDecision",
    "InvalidTransition",
    "NotCovered",
    "PermissionDenied",
    "TicketError",
    "assign",
    "assign_refusal",
    "assignable",
    "can_decide",
    "can_own",
    "can_work",
    "claim",
    "close_moot_tickets",
    "close_tickets_of",
    "comment",
    "decide",
    "escalate",
    "escalate_overdue",
    "needed_cover",
    "open_ticket",
    "release_finding",
    "reopen",
    "route_exceptions",
    "ticket_coordinator",
    "unclaim",
    "visible_to",
    "warn_due_soon",
]

# NO_BID_DOTNET is reviewed as an exception: the only way past the no-bid commitment is an
# exception grant at level 3, and states.RESOLUTIONS_BY_TYPE allows that grant only on
# exception tickets. As a conflict ticket the override could never be recorded.
EXCEPTION_RULES: frozenset[str] = frozenset(
    {"DOTNET_EXCEPTION", "MCS_SIZE_THRESHOLD", "NO_BID_DOTNET"}
)
OPEN_STATUSES: tuple[str, ...] = (TicketStatus.OPEN.value, TicketStatus.IN_REVIEW.value)
STAFF_ROLES: frozenset[str] = frozenset({"reviewer", "admin"})
# Conflict resolutions that say which side leads; they settle the other party's registration too.
_LEAD_RESOLUTIONS: frozenset[str] = frozenset({"partner_leads", "mcs_leads", "joint_engagement"})


_CHUNK = 500


class TicketError(Exception):
    """Refuse an operation the ticket or the actor does not allow."""


class PermissionDenied(TicketError):
    """Refuse an operation by someone who may not perform it on this ticket."""


class NotCovered(TicketError):
    """Refuse to give a ticket to someone who could not decide it."""


# --- context: policy, calendars, reviewers -------------------------------------------------


@dataclass
class SlaEnv:
    """The policy, SLA rules and calendars one operation reads."""

    version: PolicyVersion
    data: PolicyData
    sla: SlaPolicy
    base_calendar: BusinessCalendar
    districts: dict[str, District]
    _calendars: dict[str | None, BusinessCalendar] = field(default_factory=dict)

    def calendar(self, district: str | None) -> BusinessCalendar:
        """Return the business calendar of a district (the policy calendar as a fallback)."""
        if district in self._calendars:
            return self._calendars[district]
        cal = self.base_calendar
        row = self.districts.get(district) if district else None
        if row is not None:
            try:
                cal = replace(cal, timezone=row.timezone).with_holidays(row.holidays or [])
            except ValueError:
                # A bad zone or holiday in one district must not stop every SLA computation.
                log.warning("district %s has an unusable calendar; using the policy's", district)
        self._calendars[district] = cal
        return cal

    def region(self, district: str | None) -> str | None:
        """Return the region a district rolls up to."""
        row = self.districts.get(district) if district else None
        return row.region if row is not None else None

    def due(self, start: datetime, level: int, ticket_type: str, district: str | None) -> datetime:
        """Return when a level's SLA runs out for a ticket that reached it at start."""
        return due_at(start, level, ticket_type, self.sla, self.calendar(district))


def sla_env(sess: Session) -> SlaEnv:
    """Return the active policy with its SLA rules and the district calendars."""
    # Built once per transaction: a batch (a list re-check, a sweep) opens many tickets.
    env = per_transaction(sess, "sla_env", lambda: _build_sla_env(sess))
    if env.version is not active_policy(sess):
        # A new policy version was made in this transaction: build again from it.
        forget_per_transaction(sess, "sla_env")
        env = per_transaction(sess, "sla_env", lambda: _build_sla_env(sess))
    return env


def _build_sla_env(sess: Session) -> SlaEnv:
    version = active_policy(sess)
    data = version.values
    districts = {d.code: d for d in sess.execute(sa.select(District)).scalars()}
    return SlaEnv(
        version=version,
        data=data,
        sla=SlaPolicy.from_dict(data.model_dump()),
        base_calendar=BusinessCalendar.from_dict(data.calendar.model_dump()),
        districts=districts,
    )


def sla_context(sess: Session, district: str | None) -> tuple[SlaPolicy, BusinessCalendar]:
    """Return the SLA policy and the business calendar that apply in a district."""
    env = sla_env(sess)
    return env.sla, env.calendar(district)


def _reviewers(sess: Session, users: Sequence[User] | None = None) -> list[Reviewer]:
    """Return active reviewers with their current open work (all of them when users is None)."""
    if users is None:
        users = list(
            sess.execute(
                sa.select(User).where(User.role == "reviewer", User.is_active.is_(True))
            ).scalars()
        )
    if not users:
        return []
    ids = [u.id for u in users]
    load: dict[int, int] = {}
    for chunk in _chunks(ids):
        load.update(
            sess.execute(
                sa.select(Ticket.owner_id, sa.func.count())
                .where(Ticket.owner_id.in_(chunk), Ticket.status.in_(OPEN_STATUSES))
                .group_by(Ticket.owner_id)
            ).all()
        )
    return [
        Reviewer(
            user_id=u.id,
            level=u.level or 1,
            districts=frozenset(u.districts or []),
            region=u.region,
            open_count=load.get(u.id, 0),
            active=u.is_active,
        )
        for u in users
    ]


def _reviewer_accounts(sess: Session) -> list[User]:
    """Return the active reviewers' accounts, read once per transaction."""
    # Held for the transaction: a batch that opens many tickets reads them once, and holding
    # them keeps them in the session, so looking up the owner picked costs no query.
    return per_transaction(
        sess,
        "reviewer_accounts",
        lambda: list(
            sess.execute(
                sa.select(User).where(User.role == "reviewer", User.is_active.is_(True))
            ).scalars()
        ),
    )


def _candidate_reviewers(
    sess: Session,
    level: int,
    district: str | None,
    region: str | None,
    coordinator_id: int | None = None,
) -> list[Reviewer]:
    """Return reviewers who could own a ticket at this level or above, with their load.

    A Gold partner's coordinator is included wherever they work, since they own the partner's
    escalations whatever the territory.
    """
    users = _could_own(_reviewer_accounts(sess), level, district, region, coordinator_id)
    # Counting open work only for people who could take the ticket keeps this cheap.
    return _reviewers(sess, users)


def _could_own(
    users: Iterable[User],
    level: int,
    district: str | None,
    region: str | None,
    coordinator_id: int | None,
) -> list[User]:
    """Return the active reviewers who could own a ticket at this level or above, here."""
    return [
        u
        for u in users
        if u.role == "reviewer"
        and u.is_active
        and (
            u.id == coordinator_id
            or any(
                Reviewer(u.id, u.level or 1, frozenset(u.districts or []), u.region).covers(
                    lvl, district, region
                )
                for lvl in range(level, 4)
            )
        )
    ]


def _gold_coordinator(sess: Session, partner_ids: Iterable[int | None]) -> int | None:
    """Return the technical coordinator of the first Gold partner among the parties."""
    for pid in partner_ids:
        if pid is None:
            continue
        partner = sess.get(Partner, pid)
        if partner is not None and partner.tier == "gold" and partner.technical_coordinator_id:
            return partner.technical_coordinator_id
    return None


# --- permissions -------------------------------------------------------------------------


def _covers_place(user: User, ticket: Ticket) -> bool:
    """Return True when the ticket lies in the reviewer's territory."""
    return covers_place(user, ticket.district, ticket.region)


def covers_place(user: User, district: str | None, region: str | None) -> bool:
    """Return True when a district (of a region) lies in the reviewer's territory."""
    level = user.level or 1
    if level >= 3:
        return True
    districts = set(user.districts or [])
    if level == 2:
        return (user.region is not None and region == user.region) or district in districts
    return district in districts


def can_work(user: User, ticket: Ticket) -> bool:
    """Return True when the user may claim, assign or escalate the ticket (see can_decide)."""
    if not user.is_active:
        return False
    if user.role == "admin":
        return True
    if user.role != "reviewer":
        return False
    if ticket.owner_id is not None and ticket.owner_id == user.id:
        return True
    # A ticket escalated past a reviewer's level belongs to the higher level now.
    return (user.level or 1) >= ticket.level and _covers_place(user, ticket)


def ticket_coordinator(sess: Session, ticket: Ticket) -> int | None:
    """Return the Gold technical coordinator who owns the ticket's escalations, if any."""
    if ticket.type != TicketType.CONFLICT.value:
        # A Gold partner's coordinator takes its conflicts, never an exception: those are
        # judged at their level (a no-bid override only nationally), as routing does.
        return None
    return _gold_coordinator(sess, (ticket.partner_id, ticket.other_partner_id))


def can_own(user: User, ticket: Ticket, coordinator_id: int | None = None) -> bool:
    """Return True when the user could own and decide the ticket (pass its Gold coordinator)."""
    if not user.is_active:
        return False
    if user.role == "admin":
        return True
    # Routing's own test, so nobody is handed a ticket that routing would never give them.
    return bool(_could_own([user], ticket.level, ticket.district, ticket.region, coordinator_id))


def can_decide(user: User, ticket: Ticket) -> bool:
    """Return True when the user may decide or reopen the ticket."""
    # Owning a ticket lets its owner claim it or pass it on; deciding also needs the territory
    # at the ticket's level (or the Gold coordinator's charge), since districts change after
    # a ticket is assigned.
    if not can_work(user, ticket):
        return False
    if can_own(user, ticket):
        return True
    sess = object_session(ticket)
    return sess is not None and can_own(user, ticket, ticket_coordinator(sess, ticket))


def needed_cover(sess: Session, ticket: Ticket) -> str:
    """Return who may own the ticket, in words ("a reviewer covering Northeast at level 1")."""
    if ticket.level >= 3:
        return f"a national reviewer (level 3, {LEVEL_NAMES[3]})"
    row = sla_env(sess).districts.get(ticket.district or "")
    where = row.name if row is not None else (ticket.district or "its district")
    if ticket.level == 2 and ticket.region:
        where = f"{where} or the {ticket.region} region"
    return (
        f"a reviewer covering {where} at level {ticket.level} "
        f"({LEVEL_NAMES[ticket.level]}) or above"
    )


def assign_refusal(sess: Session, ticket: Ticket, assignee: User) -> str | None:
    """Return why the assignee may not own the ticket, or None when they may."""
    if assignee.role not in STAFF_ROLES or not assignee.is_active:
        return f"{assignee.display_name} is not an active reviewer"
    if can_own(assignee, ticket, ticket_coordinator(sess, ticket)):
        return None
    return (
        f"{assignee.display_name} cannot take ticket #{ticket.id}: "
        f"it needs {needed_cover(sess, ticket)}"
    )


def assignable(sess: Session, ticket: Ticket, users: Iterable[User] | None = None) -> list[User]:
    """Return the users (all active reviewers when None) who could own and decide the ticket."""
    if users is None:
        users = sess.execute(
            sa.select(User)
            .where(User.role == "reviewer", User.is_active.is_(True))
            .order_by(User.level, User.name, User.email)
        ).scalars()
    coordinator = ticket_coordinator(sess, ticket)
    return [u for u in users if can_own(u, ticket, coordinator)]


def visible_to(user: User, ticket: Ticket) -> bool:
    """Return True when the user may see the ticket (partners: only as a party)."""
    if not user.is_active:
        return False
    if user.role == "admin":
        return True
    if user.role == "partner":
        return user.partner_id is not None and user.partner_id in (
            ticket.partner_id,
            ticket.other_partner_id,
        )
    if user.role == "mcs":
        if ticket.mcs_owner_email and ticket.mcs_owner_email.lower() == user.email.lower():
            return True
        sess = object_session(ticket)
        if sess is None:
            return False
        for reg_id in (ticket.registration_id, ticket.other_registration_id):
            reg = sess.get(Registration, reg_id) if reg_id else None
            if reg is not None and reg.submitted_by_id == user.id:
                return True
        return False
    if user.role == "reviewer":
        # Reviewers see their territory at every level; they work only up to their own.
        return can_work(user, ticket) or _covers_place(user, ticket)
    return False


def is_staff(user: User) -> bool:
    """Return True for reviewers and admins, who see internal notes."""
    return user.role in STAFF_ROLES


def _require_work(user: User, ticket: Ticket) -> None:
    if not can_work(user, ticket):
        raise PermissionDenied(f"{user.display_name} may not work ticket {ticket.id}")


def _require_decide(user: User, ticket: Ticket) -> None:
    _require_work(user, ticket)
    if not can_decide(user, ticket):
        raise PermissionDenied(
            f"{user.display_name} owns ticket {ticket.id} but does not cover it at level "
            f"{ticket.level}; assign it to someone who does"
        )


# --- building blocks ---------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _event(
    sess: Session,
    ticket: Ticket,
    kind: str,
    *,
    actor_id: int | None,
    body: str = "",
    visibility: str = "public",
    now: datetime | None = None,
    **data: Any,
) -> TicketEvent:
    ev = TicketEvent(
        ticket_id=ticket.id,
        kind=kind,
        visibility=visibility,
        actor_id=actor_id,
        body=body[:4000],
        data=data,
        created_at=now or utcnow(),
    )
    sess.add(ev)
    return ev


def ticket_path(ticket_id: int | None) -> str:
    """Return the app path of a ticket page (built by hand: jobs run outside a request)."""
    return f"/tickets/{ticket_id}"


def _email_context(
    ticket: Ticket, reg: Registration | None, headline: str, lines: list[str]
) -> dict[str, Any]:
    return {
        "headline": headline,
        "lines": lines,
        "url": notify.absolute_url(ticket_path(ticket.id)),
        "ticket_id": ticket.id,
        # Both sides get the same message: a ticket with a second registration names neither,
        # so neither party learns the id of the other side's registration.
        "registration_id": ticket.registration_id if ticket.other_registration_id is None else None,
        "customer_name": reg.customer_name if reg is not None else "",
        "rule": ticket.rule,
        "level": ticket.level,
        "resolution": ticket.resolution,
        "due_at": _iso(ticket.sla_due_at),
    }


def ticket_payload(ticket: Ticket) -> dict[str, Any]:
    """Return the webhook form of a ticket: what every party may know, no notes."""
    return {
        "ticket_id": ticket.id,
        "type": ticket.type,
        "rule": ticket.rule,
        "status": ticket.status,
        "level": ticket.level,
        "district": ticket.district,
        "registration_id": ticket.registration_id,
        "other_registration_id": ticket.other_registration_id,
        "sla_due_at": _iso(ticket.sla_due_at),
        "breached": ticket.breached,
        "resolution": ticket.resolution,
    }


def _party_recipients(sess: Session, ticket: Ticket) -> list[User | str]:
    """Return everyone on the sides of a ticket: partner users, MCS owner and MCS submitters."""
    regs = [
        sess.get(Registration, reg_id) if reg_id else None
        for reg_id in (ticket.registration_id, ticket.other_registration_id)
    ]
    return read_ticket_people(
        sess,
        partner_ids=(ticket.partner_id, ticket.other_partner_id),
        mcs_owner_email=ticket.mcs_owner_email,
        submitter_ids=_mcs_submitter_ids(regs),
        with_reviewers=False,
    ).party


def _mcs_submitter_ids(regs: Iterable[Registration | None]) -> list[int]:
    """Return who submitted the MCS registrations among regs."""
    return [
        r.submitted_by_id
        for r in regs
        if r is not None and r.party == "mcs" and r.submitted_by_id is not None
    ]


def _territory_reviewers(sess: Session, ticket: Ticket) -> list[User]:
    """Return the active reviewers covering the ticket's level and place."""
    users = sess.execute(
        sa.select(User)
        .where(User.role == "reviewer", User.is_active.is_(True), User.level == ticket.level)
        .order_by(User.id)
    ).scalars()
    return [u for u in users if _covers_place(u, ticket)]


def _webhook(sess: Session, event: str, ticket: Ticket, **extra: Any) -> None:
    notify.enqueue_webhooks(sess, event=event, payload=ticket_payload(ticket) | extra)


def _subject(ticket: Ticket, what: str) -> str:
    return f"[ChannelGuard] {what}: {ticket.title or ticket.rule} (ticket #{ticket.id})"


# --- opening and findings ------------------------------------------------------------------


def _title(finding: ConflictFinding, registration: Registration) -> str:
    label = RULE_TITLES.get(finding.rule, finding.rule.replace("_", " ").capitalize())
    name = finding.account_name or registration.customer_name
    return f"{label}: {name}"[:300]


def _existing_open(
    sess: Session, registration_id: int, rule: str, other_registration_id: int | None
) -> Ticket | None:
    query = sa.select(Ticket).where(
        Ticket.registration_id == registration_id,
        Ticket.rule == rule,
        Ticket.status != TicketStatus.DECIDED.value,
    )
    if rule in PAIRWISE_RULES:
        query = query.where(
            sa.func.coalesce(Ticket.other_registration_id, 0) == (other_registration_id or 0)
        )
    return sess.execute(query).scalar_one_or_none()


def _split_other_partner(
    party: list[User | str], finding: ConflictFinding, other: Registration | None
) -> tuple[list[User | str], list[User | str]]:
    """Split an overlap's recipients into the raising side and the other partner's users."""
    if finding.rule not in OTHER_SIDE_RULES or other is None or other.partner_id is None:
        return party, []
    theirs: list[User | str] = [
        p for p in party if isinstance(p, User) and p.partner_id == other.partner_id
    ]
    return [p for p in party if p not in theirs], theirs


def open_ticket(
    sess: Session,
    *,
    registration: Registration,
    finding: ConflictFinding,
    other_registration: Registration | None = None,
    actor_id: int | None = None,
    new_registration: bool = False,
) -> Ticket:
    """Open a ticket for a finding (or return the open one for its registration and rule).

    new_registration says the registration was made in this transaction: no other transaction
    can see it yet, so it can have no ticket and no concurrent check can race to open one.
    """
    if not new_registration:
        existing = _existing_open(
            sess, registration.id, finding.rule, finding.other_registration_id
        )
        if existing is not None:
            if finding.ticket_id is None:
                finding.ticket_id = existing.id
            return existing

    env = sla_env(sess)
    now = utcnow()
    evidence = finding.evidence or {}
    ticket_type = (
        TicketType.EXCEPTION.value if finding.rule in EXCEPTION_RULES else TicketType.CONFLICT.value
    )
    district = evidence.get("district") or registration.district
    level = opening_level(finding.rule)
    if other_registration is None and finding.other_registration_id:
        other_registration = sess.get(Registration, finding.other_registration_id)
    ticket = Ticket(
        type=ticket_type,
        rule=finding.rule,
        status=TicketStatus.OPEN.value,
        level=level,
        district=district,
        region=env.region(district),
        registration_id=registration.id,
        other_registration_id=other_registration.id if other_registration else None,
        partner_id=registration.partner_id,
        other_partner_id=other_registration.partner_id if other_registration else None,
        mcs_owner_email=(str(evidence.get("mcs_owner_email") or "").strip().lower() or None),
        title=_title(finding, registration),
        list_version_id=finding.list_version_id,
        policy_version_id=finding.policy_version_id or env.version.id,
        opened_at=now,
        sla_due_at=env.due(now, level, ticket_type, district),
        updated_at=now,
    )
    routed = ticket_type == TicketType.CONFLICT.value
    people = read_ticket_people(
        sess,
        partner_ids=(ticket.partner_id, ticket.other_partner_id),
        mcs_owner_email=ticket.mcs_owner_email,
        submitter_ids=_mcs_submitter_ids((registration, other_registration)),
        with_reviewers=routed,
    )
    if routed:
        coordinator = people.coordinator_id
        candidates = _could_own(
            people.reviewers, level, ticket.district, ticket.region, coordinator
        )
        ticket.owner_id = pick_owner(
            _reviewers(sess, candidates),
            level=level,
            district=ticket.district,
            region=ticket.region,
            gold_coordinator_id=coordinator,
        )
        ticket.routed_at = now if ticket.owner_id is not None else None
    # Exception tickets stay unrouted: route_exceptions balances them across the district.
    if new_registration:
        sess.add(ticket)
        sess.flush()
    else:
        try:
            with sess.begin_nested():
                sess.add(ticket)
                sess.flush()
        except IntegrityError:
            # A concurrent check opened the same (registration, rule) ticket first; use it.
            existing = _existing_open(
                sess, registration.id, finding.rule, finding.other_registration_id
            )
            if existing is None:
                raise
            if finding.ticket_id is None:
                finding.ticket_id = existing.id
            return existing

    finding.ticket_id = ticket.id
    # Every read comes before the first row is added, so the timeline, audit and outbox rows
    # of this opening are written together by the caller's next flush, not one flush each.
    party = people.party
    # The routed owner was read with the reviewers, so this finds it in the session.
    owner = sess.get(User, ticket.owner_id) if ticket.owner_id is not None else None
    territory = (
        _territory_reviewers(sess, ticket)
        if ticket.owner_id is None and ticket_type == TicketType.CONFLICT.value
        else []
    )
    notify.enabled_endpoints(sess)
    _event(
        sess,
        ticket,
        "opened",
        actor_id=actor_id,
        body=finding.message,
        now=now,
        type=ticket_type,
        rule=finding.rule,
        level=level,
        finding_id=finding.id,
        due_at=_iso(ticket.sla_due_at),
    )
    if ticket.owner_id is not None:
        # Routing is the system's doing, not the submitter's: the timeline shows it as such.
        _event(
            sess,
            ticket,
            "routed",
            actor_id=None,
            visibility="internal",
            now=now,
            owner_id=ticket.owner_id,
        )
    record_audit(
        sess,
        actor_id,
        "ticket.opened",
        "ticket",
        ticket.id,
        rule=ticket.rule,
        type=ticket_type,
        registration_id=registration.id,
        finding_id=finding.id,
        owner_id=ticket.owner_id,
    )

    what = "Exception review opened" if ticket_type == "exception" else "Conflict opened"
    lines = [
        finding.message,
        f"Level {ticket.level} ({LEVEL_NAMES[ticket.level]}) review is due by "
        f"{ticket.sla_due_at:%Y-%m-%d %H:%M} UTC."
        if ticket.sla_due_at
        else "",
    ]
    # A name that ends in a full stop ("Acme Corp.") needs none added.
    customer = registration.customer_name.rstrip(".")
    ctx = _email_context(ticket, registration, f"{what} for {customer}.", lines)
    party, other_side = _split_other_partner(party, finding, other_registration)
    notify.enqueue_emails(
        sess,
        party,
        event="ticket.opened",
        template="conflict_opened",
        subject=_subject(ticket, what),
        context=ctx,
        look_up=False,
    )
    if other_side and other_registration is not None:
        # The finding speaks for the registration that raised it; the partner on the other
        # side reads it from their own registration, as their ticket page tells it.
        name = other_registration.customer_name
        other_lines = [other_side_message(finding.evidence, name, finding.rule), *lines[1:]]
        title = f"{RULE_TITLES.get(ticket.rule, ticket.rule)}: {name}"
        notify.enqueue_emails(
            sess,
            other_side,
            event="ticket.opened",
            template="conflict_opened",
            subject=f"[ChannelGuard] {what}: {title} (ticket #{ticket.id})",
            context=_email_context(
                ticket, other_registration, f"{what} for {name.rstrip('.')}.", other_lines
            ),
            look_up=False,
        )
    if owner is not None:
        notify.enqueue_email(
            sess,
            event="ticket.assigned",
            template="ticket_assigned",
            subject=_subject(ticket, "Assigned to you"),
            context=ctx | {"headline": f"Ticket #{ticket.id} is assigned to you."},
            user=owner,
        )
    elif territory:
        # Nobody could be picked: tell the territory so the ticket is not stranded.
        notify.enqueue_emails(
            sess,
            territory,
            event="ticket.opened",
            template="conflict_opened",
            subject=_subject(ticket, what),
            context=ctx,
        )
    _webhook(sess, "ticket.opened", ticket)
    return ticket


def release_finding(
    sess: Session, finding: ConflictFinding, *, reason: str, actor_id: int | None = None
) -> None:
    """Record that a re-check found the finding no longer holds."""
    if not finding.active:
        return
    now = utcnow()
    finding.active = False
    finding.released_at = now
    if finding.ticket_id is not None:
        ticket = sess.get(Ticket, finding.ticket_id)
        if ticket is not None:
            _event(
                sess,
                ticket,
                "finding_released",
                actor_id=actor_id,
                body=reason,
                now=now,
                finding_id=finding.id,
                rule=finding.rule,
            )
            ticket.updated_at = now
            if ticket.status != TicketStatus.DECIDED.value and not _holds_findings(sess, ticket):
                _close_released(sess, ticket, actor_id=actor_id, reason=reason)
    record_audit(
        sess,
        actor_id,
        "finding.released",
        "conflict_finding",
        finding.id,
        reason=reason,
        ticket_id=finding.ticket_id,
    )


def _close_released(sess: Session, ticket: Ticket, *, actor_id: int | None, reason: str) -> None:
    """Close a ticket a re-check left without findings, saying where its conflict went."""
    # The registration may still be in conflict on another ticket (the re-check may just have
    # opened one under another rule, a fuzzy match that became exact): say so, not "none left".
    moved_to = sess.execute(
        sa.select(Ticket.id)
        .where(
            Ticket.registration_id == ticket.registration_id,
            Ticket.status != TicketStatus.DECIDED.value,
            Ticket.id != ticket.id,
        )
        .order_by(Ticket.id)
        .limit(1)
    ).scalar()
    if moved_to is None:
        why, what = f"A re-check found no conflict left: {reason}", "no conflict is left"
    else:
        why = (
            f"A re-check released this ticket's findings: {reason} The registration's conflict "
            f"carries on in ticket #{moved_to}."
        )
        what = f"the conflict carries on in ticket #{moved_to}"
    _close_without_conflict(sess, ticket, actor_id=actor_id, why=why, what=what)


def _holds_findings(sess: Session, ticket: Ticket) -> bool:
    """Return True while any finding behind the ticket still holds."""
    return (
        sess.execute(
            sa.select(ConflictFinding.id)
            .where(ConflictFinding.ticket_id == ticket.id, ConflictFinding.active.is_(True))
            .limit(1)
        ).first()
        is not None
    )


# --- working a ticket --------------------------------------------------------------------


def _lock(sess: Session, ticket: Ticket) -> None:
    """Reload the ticket under a row lock so two reviewers cannot act on a stale copy."""
    if is_postgres(sess) and ticket.id is not None:
        sess.flush()
        sess.refresh(ticket, with_for_update=True)
    # SQLite orders writers with BEGIN IMMEDIATE (set for every POST), so no lock is needed.


def claim(sess: Session, ticket: Ticket, user: User) -> Ticket:
    """Take a ticket into review as its owner."""
    _lock(sess, ticket)
    _require_work(user, ticket)
    new_status = transition(ticket.status, Action.CLAIM)
    now = utcnow()
    previous = ticket.owner_id
    ticket.status = new_status.value
    ticket.owner_id = user.id
    ticket.claimed_at = now
    ticket.updated_at = now
    _event(
        sess,
        ticket,
        EVENT_KIND_BY_ACTION[Action.CLAIM],
        actor_id=user.id,
        now=now,
        owner_id=user.id,
        previous_owner_id=previous,
    )
    record_audit(sess, user.id, "ticket.claimed", "ticket", ticket.id, previous_owner_id=previous)
    if previous is not None and previous != user.id:
        prev_user = sess.get(User, previous)
        if prev_user is not None:
            reg = sess.get(Registration, ticket.registration_id)
            notify.enqueue_email(
                sess,
                event="ticket.claimed",
                template="ticket_assigned",
                subject=_subject(ticket, "Taken over"),
                context=_email_context(
                    ticket,
                    reg,
                    f"{user.display_name} took over ticket #{ticket.id} from you.",
                    [],
                ),
                user=prev_user,
            )
    return ticket


def unclaim(sess: Session, ticket: Ticket, user: User) -> Ticket:
    """Give a claimed ticket back to the queue."""
    _lock(sess, ticket)
    if ticket.owner_id != user.id and not can_work(user, ticket):
        raise PermissionDenied(f"{user.display_name} may not release ticket {ticket.id}")
    new_status = transition(ticket.status, Action.UNCLAIM)
    now = utcnow()
    previous = ticket.owner_id
    ticket.status = new_status.value
    ticket.owner_id = None
    ticket.claimed_at = None
    ticket.updated_at = now
    _event(
        sess,
        ticket,
        EVENT_KIND_BY_ACTION[Action.UNCLAIM],
        actor_id=user.id,
        visibility="internal",
        now=now,
        previous_owner_id=previous,
    )
    record_audit(sess, user.id, "ticket.released", "ticket", ticket.id, previous_owner_id=previous)
    return ticket


def assign(sess: Session, ticket: Ticket, *, assignee: User, actor: User) -> Ticket:
    """Make someone the ticket's owner (they still claim it to start the review)."""
    _lock(sess, ticket)
    _require_work(actor, ticket)
    refusal = assign_refusal(sess, ticket, assignee)
    if refusal is not None:
        raise NotCovered(refusal)
    new_status = transition(ticket.status, Action.ASSIGN)
    now = utcnow()
    previous = ticket.owner_id
    ticket.status = new_status.value
    ticket.owner_id = assignee.id
    ticket.claimed_at = None
    ticket.updated_at = now
    _event(
        sess,
        ticket,
        EVENT_KIND_BY_ACTION[Action.ASSIGN],
        actor_id=actor.id,
        visibility="internal",
        now=now,
        owner_id=assignee.id,
        previous_owner_id=previous,
    )
    record_audit(
        sess,
        actor.id,
        "ticket.assigned",
        "ticket",
        ticket.id,
        owner_id=assignee.id,
        previous_owner_id=previous,
    )
    if assignee.id != actor.id:
        reg = sess.get(Registration, ticket.registration_id)
        notify.enqueue_email(
            sess,
            event="ticket.assigned",
            template="ticket_assigned",
            subject=_subject(ticket, "Assigned to you"),
            context=_email_context(
                ticket,
                reg,
                f"{actor.display_name} assigned ticket #{ticket.id} to you.",
                [ticket.title],
            ),
            user=assignee,
        )
    return ticket


def comment(
    sess: Session, ticket: Ticket, *, author: User, body: str, internal: bool
) -> TicketEvent:
    """Add a comment to the timeline (internal notes are for staff only)."""
    if not visible_to(author, ticket):
        raise PermissionDenied(f"{author.display_name} may not comment on ticket {ticket.id}")
    if internal and not is_staff(author):
        raise PermissionDenied("only reviewers and admins write internal notes")
    text = (body or "").strip()
    if not text:
        raise TicketError("a comment needs some text")
    transition(ticket.status, Action.COMMENT)
    now = utcnow()
    visibility = "internal" if internal else "public"
    ev = _event(
        sess,
        ticket,
        EVENT_KIND_BY_ACTION[Action.COMMENT],
        actor_id=author.id,
        body=text,
        visibility=visibility,
        now=now,
    )
    ticket.updated_at = now
    record_audit(sess, author.id, "ticket.commented", "ticket", ticket.id, visibility=visibility)
    _tell_comment(sess, ticket, author=author, text=text, internal=internal)
    sess.flush()
    if not internal:
        _webhook(sess, "ticket.commented", ticket, event_id=ev.id, visibility=visibility)
    return ev


def _tell_comment(
    sess: Session, ticket: Ticket, *, author: User, text: str, internal: bool
) -> None:
    """Tell the others on a ticket about a comment: the parties when public, and its owner."""
    people: list[User | str] = [] if internal else list(_party_recipients(sess, ticket))
    owner = sess.get(User, ticket.owner_id) if ticket.owner_id is not None else None
    if owner is not None and owner.is_active:
        people.append(owner)
    elif not is_staff(author):
        # Nobody owns it yet: a party's question goes to the reviewers who would take it.
        people.extend(_territory_reviewers(sess, ticket))
    others = [
        p for p in people if not (isinstance(p, User) and p.id == author.id) and p != author.email
    ]
    if not others:
        return
    regs = (
        sess.get(Registration, ticket.registration_id),
        sess.get(Registration, ticket.other_registration_id)
        if ticket.other_registration_id
        else None,
    )
    what = "Internal note" if internal else "New comment"
    # No author named: between two partners neither may learn who the other side is; each
    # side reads the customer as its own registration names it.
    for mine, people in _sides(others, regs):
        ctx = _email_context(
            ticket, mine or regs[0], f"New comment on ticket #{ticket.id}:", [text]
        )
        ctx["internal"] = internal
        notify.enqueue_emails(
            sess,
            people,
            event="ticket.commented",
            template="ticket_commented",
            subject=_side_subject(ticket, what, mine),
            context=ctx,
            look_up=False,  # _party_recipients looked the addresses up
        )


def _other_open_tickets(sess: Session, registration_id: int, ticket_id: int | None) -> int:
    return int(
        sess.execute(
            sa.select(sa.func.count()).where(
                sa.or_(
                    Ticket.registration_id == registration_id,
                    Ticket.other_registration_id == registration_id,
                ),
                Ticket.status != TicketStatus.DECIDED.value,
                Ticket.id != ticket_id,
            )
        ).scalar_one()
    )


def _settle_registration(
    sess: Session, reg: Registration, status: str, ticket: Ticket, env: SlaEnv, now: datetime
) -> str | None:
    """Apply a decision's outcome to a registration; return the status it got, if changed.

    A rejection applies at once. An approval waits while another undecided ticket still holds
    the registration, so the last open question decides when it goes ahead.
    """
    if not reg.is_open:
        return None
    if status == "approved" and _other_open_tickets(sess, reg.id, ticket.id):
        return None
    if reg.status == status:
        return None
    reg.status = status
    reg.decided_at = now
    reg.updated_at = now
    if reg.list_version_id is None and reg.policy_version_id is None:
        # The registration table demands the versions a decided registration was judged by.
        reg.list_version_id = ticket.list_version_id
        reg.policy_version_id = ticket.policy_version_id or env.version.id
    if status == "approved" and reg.expires_at is None:
        reg.expires_at = now + timedelta(days=env.data.registration_lifetime_days)
    return status


def decide(
    sess: Session, ticket: Ticket, *, actor: User, resolution: str, rationale: str
) -> Ticket:
    """Close a ticket with a resolution and rationale, and settle the registrations."""
    _lock(sess, ticket)
    _require_decide(actor, ticket)
    new_status = transition(ticket.status, Action.DECIDE)
    chosen = validate_decision(ticket.type, ticket.level, resolution, rationale, rule=ticket.rule)
    env = sla_env(sess)
    now = utcnow()
    ticket.status = new_status.value
    ticket.resolution = chosen.value
    ticket.rationale = rationale.strip()[:4000]
    ticket.decided_by_id = actor.id
    ticket.decided_at = now
    ticket.updated_at = now
    if ticket.owner_id is None:
        ticket.owner_id = actor.id

    reg = sess.get(Registration, ticket.registration_id)
    changes: dict[str, str] = {}
    if reg is not None:
        got = _settle_registration(
            sess, reg, registration_status_after(chosen, reg.party), ticket, env, now
        )
        if got:
            changes[str(reg.id)] = got
    other = (
        sess.get(Registration, ticket.other_registration_id)
        if ticket.other_registration_id
        else None
    )
    other_status = _other_side_status(chosen, reg, other)
    if other is not None and other_status is not None:
        got = _settle_registration(sess, other, other_status, ticket, env, now)
        if got:
            changes[str(other.id)] = got

    _record_decision(
        sess,
        ticket,
        actor_id=actor.id,
        changes=changes,
        policy_version_id=ticket.policy_version_id,
        list_version_id=ticket.list_version_id,
    )
    # A rejection applies at once, so the rejected registration's other open tickets have
    # nothing left to decide.
    rejected = [int(rid) for rid, status in changes.items() if status == "rejected"]
    close_tickets_of(sess, rejected, actor_id=actor.id, happened="was rejected")
    _tell_decision(
        sess,
        ticket,
        (reg, other),
        changes,
        headline=lambda mine: f"Ticket #{ticket.id} was decided: {_decision_words(ticket, mine)}.",
        actor_id=actor.id,
    )
    return ticket


def _record_decision(
    sess: Session, ticket: Ticket, *, actor_id: int | None, changes: dict[str, str], **extra: Any
) -> None:
    """Write a decided ticket's timeline event and audit entry."""
    _event(
        sess,
        ticket,
        EVENT_KIND_BY_ACTION[Action.DECIDE],
        actor_id=actor_id,
        body=ticket.rationale,
        now=ticket.decided_at,
        resolution=ticket.resolution,
        level=ticket.level,
        registrations=changes,
    )
    record_audit(
        sess,
        actor_id,
        "ticket.decided",
        "ticket",
        ticket.id,
        resolution=ticket.resolution,
        level=ticket.level,
        registrations=changes,
        **extra,
    )


def _other_side_status(
    chosen: Resolution, reg: Registration | None, other: Registration | None
) -> str | None:
    """Return what a decision does to the ticket's second registration (None: nothing)."""
    if other is None or reg is None:
        return None
    if other.party != reg.party:
        # Between MCS and a partner a lead decision settles both sides: "partner leads" makes
        # MCS stand down, "MCS leads" the partner, "joint" approves both.
        if chosen.value not in _LEAD_RESOLUTIONS:
            return None
        return registration_status_after(chosen, other.party)
    # Between two partners "partner leads" gives the customer to the registration that raised
    # the ticket, so the other stands down; "joint" lets both go ahead; "rejected" leaves the
    # other partner's registration as it is.
    return _PARTNER_PAIR_OTHER_STATUS.get(chosen)


_PARTNER_PAIR_OTHER_STATUS: dict[Resolution, str] = {
    Resolution.PARTNER_LEADS: "rejected",
    Resolution.JOINT_ENGAGEMENT: "approved",
}


def _registration_line(reg: Registration, changes: dict[str, str]) -> str:
    got = changes.get(str(reg.id))
    what = f"is now {got}" if got else f"stays {reg.status.replace('_', ' ')}"
    return f"Your registration #{reg.id} for {reg.customer_name} {what}."


def _sides(
    party: list[User | str], regs: Sequence[Registration | None]
) -> list[tuple[Registration | None, list[User | str]]]:
    """Group a ticket's party by the registration each recipient holds (None: no registration)."""
    groups: dict[int | None, list[User | str]] = {}
    held = [r for r in regs if r is not None]
    mcs = next((r for r in held if r.party == "mcs"), None)
    for person in party:
        mine: Registration | None = None
        if isinstance(person, User) and person.role == "partner":
            mine = next((r for r in held if r.partner_id == person.partner_id), None)
        elif mcs is not None:
            # The MCS owner and MCS submitters stand on the MCS registration's side.
            mine = mcs
        groups.setdefault(mine.id if mine else None, []).append(person)
    by_id = {r.id: r for r in held}
    return [(by_id.get(rid) if rid else None, people) for rid, people in groups.items()]


# How a partner-vs-partner decision reads to each side: (the raising side, the other side).
_PAIR_WORDS: dict[str, tuple[str, str]] = {
    Resolution.PARTNER_LEADS.value: (
        "your registration leads; the other partner's stands down",
        "the other partner's registration leads; yours stands down",
    ),
    Resolution.REJECTED.value: (
        "rejected; the other partner's registration keeps the lead",
        "your registration keeps the lead",
    ),
}


def _decision_words(ticket: Ticket, mine: Registration | None) -> str:
    """Return a decision's resolution as one side reads it ("your registration leads")."""
    resolution = ticket.resolution or ""
    pair = _PAIR_WORDS.get(resolution) if ticket.rule == PARTNER_OVERLAP else None
    if pair is None or mine is None:
        return RESOLUTION_LABELS.get(resolution, resolution.replace("_", " "))
    return pair[0] if mine.id == ticket.registration_id else pair[1]


def _side_subject(ticket: Ticket, what: str, mine: Registration | None) -> str:
    """Return a ticket e-mail's subject, naming the customer as the reader's registration does."""
    if ticket.rule != PARTNER_OVERLAP or mine is None or mine.id == ticket.registration_id:
        return _subject(ticket, what)
    title = f"{RULE_TITLES.get(ticket.rule, ticket.rule)}: {mine.customer_name}"
    return f"[ChannelGuard] {what}: {title} (ticket #{ticket.id})"


def _tell_decision(
    sess: Session,
    ticket: Ticket,
    regs: tuple[Registration | None, Registration | None],
    changes: dict[str, str],
    *,
    headline: Callable[[Registration | None], str],
    actor_id: int | None,
) -> None:
    """Tell each side what a decision did to its own registration, and the owner everything."""
    reg = regs[0]
    rationale = [f"Rationale: {ticket.rationale}"]
    for mine, people in _sides(list(_party_recipients(sess, ticket)), regs):
        lines = rationale + ([_registration_line(mine, changes)] if mine is not None else [])
        # Each side reads the customer as its own registration names it.
        ctx = _email_context(ticket, mine or reg, headline(mine), lines)
        if mine is not None:
            ctx["registration_id"] = mine.id
        notify.enqueue_emails(
            sess,
            people,
            event="ticket.decided",
            template="ticket_decided",
            subject=_side_subject(ticket, "Decided", mine),
            context=ctx,
            look_up=False,  # _party_recipients looked the addresses up
        )
    owner = sess.get(User, ticket.owner_id) if ticket.owner_id is not None else None
    if owner is not None and owner.id != actor_id:
        staff = [
            f"Registration #{r.id} is now {changes[str(r.id)]}."
            for r in regs
            if r is not None and str(r.id) in changes
        ]
        notify.enqueue_email(
            sess,
            event="ticket.decided",
            template="ticket_decided",
            subject=_subject(ticket, "Decided"),
            context=_email_context(ticket, reg, headline(None), rationale + staff),
            user=owner,
        )
    _webhook(sess, "ticket.decided", ticket, registrations=changes)


# --- closing tickets with nothing left to decide -------------------------------------------


def close_moot_tickets(sess: Session, reg: Registration, *, actor: User) -> list[Ticket]:
    """Close the open tickets of a withdrawn registration: nothing is left to decide."""
    return close_tickets_of(sess, [reg.id or 0], actor_id=actor.id, happened="was withdrawn")


def close_tickets_of(
    sess: Session, registration_ids: Sequence[int], *, actor_id: int | None, happened: str
) -> list[Ticket]:
    """Close the open tickets of registrations that left the running (happened: "expired")."""
    if not registration_ids:
        return []
    gone = set(registration_ids)
    tickets = list(
        sess.execute(
            sa.select(Ticket)
            .where(
                sa.or_(Ticket.registration_id.in_(gone), Ticket.other_registration_id.in_(gone)),
                Ticket.status != TicketStatus.DECIDED.value,
            )
            .order_by(Ticket.id)
        ).scalars()
    )
    for ticket in tickets:
        # Neutral words: the other side must not read the other partner's reasons.
        which = (
            "The registration that raised this ticket"
            if ticket.registration_id in gone
            else "The other registration on this ticket"
        )
        why = f"{which} {happened}; nothing is left to decide."
        _close_without_conflict(sess, ticket, actor_id=actor_id, why=why)
    return tickets


def _close_without_conflict(
    sess: Session, ticket: Ticket, *, actor_id: int | None, why: str, what: str = ""
) -> None:
    """Close a ticket as no longer in conflict and let its registrations go ahead."""
    _lock(sess, ticket)
    if ticket.status == TicketStatus.DECIDED.value:
        return
    env = sla_env(sess)
    now = utcnow()
    ticket.status = TicketStatus.DECIDED.value
    ticket.resolution = Resolution.NO_CONFLICT.value
    ticket.rationale = why[:4000]
    ticket.decided_at = now
    ticket.updated_at = now
    regs = (
        sess.get(Registration, ticket.registration_id),
        sess.get(Registration, ticket.other_registration_id)
        if ticket.other_registration_id
        else None,
    )
    changes: dict[str, str] = {}
    for r in regs:
        # A withdrawn side is no longer open and stays as it is; the side left waiting on this
        # ticket goes ahead unless another open ticket still holds it.
        if r is not None and r.status in ("in_conflict", "in_exception_review"):
            got = _settle_registration(sess, r, "approved", ticket, env, now)
            if got:
                changes[str(r.id)] = got
    _record_decision(sess, ticket, actor_id=actor_id, changes=changes, reason=why)
    _tell_decision(
        sess,
        ticket,
        regs,
        changes,
        headline=lambda _mine: f"Ticket #{ticket.id} was closed: {what or 'no conflict is left'}.",
        actor_id=actor_id,
    )


def escalate(sess: Session, ticket: Ticket, *, actor: User | None, reason: str) -> Ticket:
    """Move a ticket up one level with a new SLA and owner (at level 3 past SLA: breached)."""
    _lock(sess, ticket)
    if actor is not None:
        _require_work(actor, ticket)
    transition(ticket.status, Action.ESCALATE)
    actor_id = actor.id if actor is not None else None
    now = utcnow()
    new_level = next_level(ticket.level)
    if new_level is None:
        overdue = ticket.sla_due_at is not None and ticket.sla_due_at < now
        if not overdue or ticket.breached:
            raise TicketError("the ticket is already at the national level (3)")
        ticket.breached = True
        ticket.updated_at = now
        _event(
            sess,
            ticket,
            "breached",
            actor_id=actor_id,
            body=reason,
            visibility="internal",
            now=now,
            level=ticket.level,
            overdue_seconds=int((now - ticket.sla_due_at).total_seconds())
            if ticket.sla_due_at
            else None,
        )
        record_audit(sess, actor_id, "ticket.breached", "ticket", ticket.id, reason=reason)
        return ticket

    env = sla_env(sess)
    old_level, old_due, old_owner = ticket.level, ticket.sla_due_at, ticket.owner_id
    coordinator = _gold_coordinator(sess, (ticket.partner_id, ticket.other_partner_id))
    ticket.level = new_level
    ticket.status = TicketStatus.OPEN.value
    ticket.claimed_at = None
    ticket.escalated_at = now
    ticket.sla_due_at = env.due(now, new_level, ticket.type, ticket.district)
    ticket.owner_id = escalation_owner(
        _candidate_reviewers(sess, new_level, ticket.district, ticket.region, coordinator),
        new_level=new_level,
        district=ticket.district,
        region=ticket.region,
        gold_coordinator_id=coordinator,
    )
    ticket.updated_at = now
    data: dict[str, Any] = {
        "from_level": old_level,
        "to_level": new_level,
        "reason": reason,
        "due_at": _iso(ticket.sla_due_at),
        "previous_due_at": _iso(old_due),
        "owner_id": ticket.owner_id,
        "previous_owner_id": old_owner,
    }
    if old_due is not None and old_due < now:
        data["overdue_seconds"] = int((now - old_due).total_seconds())
    _event(
        sess,
        ticket,
        EVENT_KIND_BY_ACTION[Action.ESCALATE],
        actor_id=actor_id,
        body=reason,
        now=now,
        **data,
    )
    record_audit(sess, actor_id, "ticket.escalated", "ticket", ticket.id, **data)
    reg = sess.get(Registration, ticket.registration_id)
    ctx = _email_context(
        ticket,
        reg,
        f"Ticket #{ticket.id} escalated to level {new_level} ({LEVEL_NAMES[new_level]}).",
        [f"Reason: {reason}"] if reason else [],
    )
    owner = sess.get(User, ticket.owner_id) if ticket.owner_id else None
    notify.enqueue_emails(
        sess,
        [owner] if owner is not None else _territory_reviewers(sess, ticket),
        event="ticket.escalated",
        template="ticket_escalated",
        subject=_subject(ticket, f"Escalated to level {new_level}"),
        context=ctx,
    )
    _webhook(sess, "ticket.escalated", ticket, from_level=old_level)
    return ticket


def reopen(sess: Session, ticket: Ticket, *, actor: User, reason: str) -> Ticket:
    """Reopen a decided ticket at its level with a fresh SLA; the decision is kept in history."""
    _lock(sess, ticket)
    _require_decide(actor, ticket)
    new_status = transition(ticket.status, Action.REOPEN)
    if ticket.resolution == Resolution.NO_CONFLICT.value:
        # Its registration was withdrawn or its findings released: there is nothing to reopen.
        raise TicketError("a ticket closed because no conflict is left cannot be reopened")
    if not (reason or "").strip():
        raise TicketError("say why the ticket is reopened")
    if _existing_open(sess, ticket.registration_id, ticket.rule, ticket.other_registration_id):
        raise TicketError("another open ticket already covers this registration and rule")
    env = sla_env(sess)
    now = utcnow()
    previous = {
        "resolution": ticket.resolution,
        "rationale": ticket.rationale,
        "decided_by_id": ticket.decided_by_id,
        "decided_at": _iso(ticket.decided_at),
    }
    ticket.status = new_status.value
    ticket.resolution = None
    ticket.rationale = None
    ticket.decided_by_id = None
    ticket.decided_at = None
    ticket.claimed_at = None
    ticket.breached = False
    ticket.sla_warned_level = None
    ticket.sla_due_at = env.due(now, ticket.level, ticket.type, ticket.district)
    ticket.updated_at = now
    # The registration goes back under review; the other side's registration is left alone,
    # since it may have moved on (expired, withdrawn) since the decision.
    reg = sess.get(Registration, ticket.registration_id)
    if reg is not None and reg.status in ("approved", "rejected"):
        reg.status = "in_exception_review" if ticket.type == "exception" else "in_conflict"
        reg.decided_at = None
        # A later approval starts a new lifetime; the old expiry belonged to the old decision.
        reg.expires_at = None
        reg.reminder_sent_at = None
        reg.updated_at = now
    _event(
        sess,
        ticket,
        EVENT_KIND_BY_ACTION[Action.REOPEN],
        actor_id=actor.id,
        body=reason.strip(),
        now=now,
        previous=previous,
        due_at=_iso(ticket.sla_due_at),
    )
    record_audit(sess, actor.id, "ticket.reopened", "ticket", ticket.id, reason=reason, **previous)
    ctx = _email_context(ticket, reg, f"Ticket #{ticket.id} was reopened.", [f"Reason: {reason}"])
    recipients: list[User | str] = list(_party_recipients(sess, ticket))
    owner = sess.get(User, ticket.owner_id) if ticket.owner_id else None
    if owner is not None and owner.id != actor.id:
        recipients.append(owner)
    notify.enqueue_emails(
        sess,
        recipients,
        event="ticket.reopened",
        template="conflict_opened",
        subject=_subject(ticket, "Reopened"),
        context=ctx,
        look_up=False,  # _party_recipients looked the addresses up
    )
    _webhook(sess, "ticket.reopened", ticket)
    return ticket


# --- scheduler jobs ----------------------------------------------------------------------


def route_exceptions(sess: Session, now: datetime) -> int:
    """Assign unrouted exception tickets to the least-loaded reviewers of their district."""
    query = (
        sa.select(Ticket)
        .where(
            Ticket.type == TicketType.EXCEPTION.value,
            Ticket.status == TicketStatus.OPEN.value,
            Ticket.owner_id.is_(None),
            Ticket.routed_at.is_(None),
        )
        .order_by(Ticket.sla_due_at.asc().nulls_last(), Ticket.id)
        .limit(1000)
    )
    if is_postgres(sess):
        # Another instance routing at the same moment takes other tickets, not these.
        query = query.with_for_update(skip_locked=True)
    tickets = list(sess.execute(query).scalars())
    if not tickets:
        return 0
    assigned = balance(_reviewers(sess), [(t.id, t.level, t.district, t.region) for t in tickets])
    users = {
        u.id: u
        for u in sess.execute(sa.select(User).where(User.id.in_(set(assigned.values())))).scalars()
    }
    for ticket in tickets:
        owner_id = assigned.get(ticket.id)
        if owner_id is None:
            log.warning("no reviewer covers exception ticket %s (%s)", ticket.id, ticket.district)
            continue
        ticket.owner_id = owner_id
        ticket.routed_at = now
        ticket.updated_at = now
        _event(
            sess, ticket, "routed", actor_id=None, visibility="internal", now=now, owner_id=owner_id
        )
        record_audit(sess, None, "ticket.routed", "ticket", ticket.id, owner_id=owner_id)
        reg = sess.get(Registration, ticket.registration_id)
        notify.enqueue_email(
            sess,
            event="ticket.routed",
            template="exception_routed",
            subject=_subject(ticket, "Exception to review"),
            context=_email_context(
                ticket,
                reg,
                f"Exception ticket #{ticket.id} is routed to you for review.",
                [ticket.title],
            ),
            user=users[owner_id],
        )
    return len(assigned)


def warn_due_soon(sess: Session, now: datetime) -> int:
    """Warn owners once per level when an open ticket's SLA is about to run out."""
    env = sla_env(sess)
    warn = env.sla.warn_before_hours
    # Business hours pass no faster than wall-clock hours, so the latest warning horizon over
    # every calendar bounds the candidates; each one is then checked exactly below.
    horizon = max(
        add_business_hours(now, warn, env.calendar(code)) for code in [None, *env.districts]
    )
    query = (
        sa.select(Ticket)
        .where(
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.sla_due_at > now,
            Ticket.sla_due_at <= horizon,
            sa.or_(Ticket.sla_warned_level.is_(None), Ticket.sla_warned_level != Ticket.level),
        )
        .order_by(Ticket.sla_due_at, Ticket.id)
    )
    if is_postgres(sess):
        query = query.with_for_update(skip_locked=True)
    count = 0
    for ticket in sess.execute(query).scalars():
        assert ticket.sla_due_at is not None
        if ticket.sla_due_at > add_business_hours(now, warn, env.calendar(ticket.district)):
            continue
        ticket.sla_warned_level = ticket.level
        ticket.updated_at = now
        left = ticket.sla_due_at - now
        _event(
            sess,
            ticket,
            "sla_warning",
            actor_id=None,
            visibility="internal",
            now=now,
            level=ticket.level,
            due_at=_iso(ticket.sla_due_at),
        )
        record_audit(sess, None, "ticket.sla_warning", "ticket", ticket.id, level=ticket.level)
        reg = sess.get(Registration, ticket.registration_id)
        owner = sess.get(User, ticket.owner_id) if ticket.owner_id else None
        notify.enqueue_emails(
            sess,
            [owner] if owner is not None else _territory_reviewers(sess, ticket),
            event="ticket.sla_warning",
            template="sla_warning",
            subject=_subject(ticket, "SLA due soon"),
            context=_email_context(
                ticket,
                reg,
                f"Ticket #{ticket.id} is due at {ticket.sla_due_at:%Y-%m-%d %H:%M} UTC "
                f"({int(left.total_seconds() // 60)} minutes from now).",
                [f"If it is not decided by then it escalates past level {ticket.level}."],
            ),
        )
        count += 1
    return count


def escalate_overdue(sess: Session, now: datetime) -> int:
    """Escalate every open ticket past its SLA by one level (see escalation.sweep)."""
    from escalation.sweep import escalate_overdue as sweep

    return sweep(sess, now)
