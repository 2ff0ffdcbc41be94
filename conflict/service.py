"""Register, check and re-check: load facts, ask the pure rules, persist the decision, open tickets.

Every function takes the caller's session and never commits; the request, command or job that
called it commits once, so a failure anywhere leaves no half-made registration or ticket.
"""

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from conflict import rules
from conflict.normalize import name_key, normalize_domain
from conflict.schemas import RegistrationCreate
from conflict.types import (
    PAIRWISE_RULES,
    WORKLOAD_LABELS,
    AccountMatch,
    AccountMatcher,
    Decision,
    Engagement,
    Facts,
    Finding,
    Policy,
    Severity,
)
from escalation.notify import any_endpoint_enabled, enabled_endpoints, saw_no_endpoints
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
from models.db import lock_columns
from models.policy import active_policy, remember_active_policy
from models.registration import ACTIVE_STATUSES, OPEN_STATUSES

# Findings that open a ticket; the others either reject outright or only inform.
TICKET_RULES: frozenset[str] = frozenset(
    {
        rules.NAMED_ACCOUNT,
        rules.NEEDS_REVIEW,
        rules.MCS_OVERLAP,
        rules.PARTNER_OVERLAP,
        rules.DOTNET_EXCEPTION,
    }
)
# Rules whose verdict depends on the named-account list, re-checked when a list is published.
LIST_RULES: tuple[str, ...] = (rules.NAMED_ACCOUNT, rules.NEEDS_REVIEW)


class SubmissionError(ValueError):
    """Bad input only the service can see (unknown district, wrong party for the role...)."""

    def __init__(
        self, message: str, field: str | None = None, *, existing_id: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # The registration this one would repeat, when that is what is wrong with it.
        self.existing_id = existing_id


@dataclass(frozen=True)
class SubmitResult:
    """What a submission produced."""

    registration: Registration
    decision: Decision | None
    tickets: list[Ticket] = field(default_factory=list)
    created: bool = True
    # The finding rows a new registration got (empty for a replayed submission).
    findings: list[ConflictFinding] = field(default_factory=list)

    def body(self, viewer: User | None) -> dict[str, Any]:
        """Return the API representation of a new registration from what was just written."""
        return _registration_body(
            self.registration,
            self.findings,
            [(t.id or 0, t.status) for t in self.tickets],
            viewer,
        )


@dataclass(frozen=True)
class RecheckSummary:
    """What re-checking open registrations against a new list changed."""

    checked: int
    new_conflicts: list[int]  # registration ids that gained a named-account finding
    released: list[int]  # registration ids whose named-account finding no longer holds


def conflict_policy(version: PolicyVersion) -> Policy:
    """Return the rule thresholds of a policy version."""
    values = version.values
    return Policy(
        version_id=version.id,
        pc_threshold=values.pc_threshold,
        fuzzy_match_score=values.fuzzy_match_score,
        fuzzy_review_score=values.fuzzy_review_score,
        high_impact_value=values.high_impact_value,
    )


class LazyDistrictNames(Mapping[str, str]):
    """District names by code, read the first time a finding's sentence needs one."""

    # Most submissions name no district in any sentence: they should not pay for the query.
    def __init__(self, sess: Session) -> None:
        self._sess = sess
        self._names: dict[str, str] | None = None

    def _loaded(self) -> dict[str, str]:
        if self._names is None:
            from escalation.service import sla_env

            # A finding that names a district opens a ticket, which reads the districts with
            # their calendars once per transaction: one read serves both.
            districts = sla_env(self._sess).districts
            self._names = {code: d.name for code, d in districts.items()}
        return self._names

    def __getitem__(self, code: str) -> str:
        return self._loaded()[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


def _matcher(sess: Session) -> AccountMatcher:
    from conflict.index_cache import get_index

    return get_index(sess)


def _lock_and_probe(
    sess: Session, key: str, domain: str | None, district: str | None
) -> tuple[AccountMatcher, PolicyVersion]:
    """Lock the customer; read the policy, the effective list and the district in the same query.

    The facts read here do not depend on the lock; the customer's engagements, which do, are
    read by the next statement, after the lock is held. Whether any webhook endpoint takes events
    comes along too, so a program without webhooks reads no endpoints for the messages.
    """
    from conflict.index_cache import effective_key_columns, index_for

    list_id, published_at = effective_key_columns()
    known = (
        sa.select(District.code).where(District.code == district).scalar_subquery()
        if district
        else sa.null()
    )
    locks = lock_columns(sess, ["customer:" + k for k in _lock_keys(key, domain)])
    hooks = any_endpoint_enabled()
    stmt = sa.select(PolicyVersion, list_id, published_at, known, hooks, *locks).where(
        PolicyVersion.active.is_(True)
    )
    row = sess.execute(stmt).first()
    if row is None:
        # A new database has no policy yet: make version 1 from the defaults and read again.
        active_policy(sess)
        row = sess.execute(stmt).one()
    policy_row = row[0]
    remember_active_policy(sess, policy_row)
    if district and row[3] is None:
        raise SubmissionError(f"Unknown district {district!r}.", "district")
    if not row[4]:
        saw_no_endpoints(sess)
    return index_for(sess, None if row[1] is None else (row[1], row[2])), policy_row


def resolve_party(data: RegistrationCreate, user: User) -> str:
    """Return the party a user registers as, refusing combinations the role does not allow."""
    if user.role == "partner":
        if data.party == "mcs":
            raise SubmissionError("Partners register deals as a partner.", "party")
        return "partner"
    if user.role == "mcs":
        if data.party == "partner":
            raise SubmissionError("MCS sellers register MCS engagements.", "party")
        return "mcs"
    if user.role == "admin":
        if data.party == "partner":
            raise SubmissionError(
                "Partner deals are registered by the partner's own users.", "party"
            )
        return "mcs"
    raise SubmissionError("Reviewers do not register deals.", "party")


def customer_name_key(name: str) -> str:
    """Return the stored grouping key of a customer name (fits its 300-character column)."""
    key = "n:" + (name_key(name) or name.strip().casefold())
    if len(key) > 300:
        # Keep keys of very long names unique and stable without outgrowing the column.
        key = key[:236] + "#" + hashlib.sha256(key.encode()).hexdigest()
    return key


def _customer_keys(data: RegistrationCreate | Registration) -> tuple[str, str | None]:
    domain = normalize_domain(data.customer_domain) if data.customer_domain else None
    return customer_name_key(data.customer_name), domain


def _active_engagements() -> Any:
    """Return the query of active registrations with only the columns the rules read."""
    columns: list[Any] = [
        Registration.id,
        Registration.party,
        Registration.partner_id,
        Partner.name.label("partner_name"),
        Registration.workloads,
        Registration.solution_stack,
        Registration.submitted_at,
        Registration.pc_count,
        Registration.status,
        Registration.customer_key,
        Registration.customer_domain,
    ]
    return (
        sa.select(*columns)
        .outerjoin(Partner, Partner.id == Registration.partner_id)
        .where(Registration.status.in_(ACTIVE_STATUSES))
    )


def load_engagements(
    sess: Session, *, key: str, domain: str | None, exclude_id: int | None = None
) -> list[Engagement]:
    """Return the active registrations on one customer (same name key or same web domain)."""
    same: Any = Registration.customer_key == key
    if domain:
        same = sa.or_(same, Registration.customer_domain == domain)
    # Plain columns, not entities: this runs inside every submission's customer lock.
    query = _active_engagements().where(same)
    if exclude_id is not None:
        query = query.where(Registration.id != exclude_id)
    return [_engagement(row) for row in sess.execute(query)]


def _engagement(row: Any) -> Engagement:
    return Engagement(
        registration_id=row.id or 0,
        party=row.party,
        partner_id=row.partner_id,
        partner_name=row.partner_name,
        workloads=frozenset(row.workloads or ()),
        solution_stack=row.solution_stack,
        submitted_at=row.submitted_at,
        pc_count=row.pc_count,
        status=row.status,
    )


class EngagementBook:
    """Every active registration indexed by customer key and domain, for bulk dry runs."""

    def __init__(self) -> None:
        self.by_key: dict[str, list[Engagement]] = {}
        self.by_domain: dict[str, list[Engagement]] = {}

    def add(self, key: str, domain: str | None, engagement: Engagement) -> None:
        """Index one engagement."""
        self.by_key.setdefault(key, []).append(engagement)
        if domain:
            self.by_domain.setdefault(domain, []).append(engagement)

    def for_customer(self, key: str, domain: str | None) -> list[Engagement]:
        """Return the engagements on a customer, each once."""
        found = {e.registration_id: e for e in self.by_key.get(key, ())}
        if domain:
            found.update({e.registration_id: e for e in self.by_domain.get(domain, ())})
        return list(found.values())


def load_engagement_book(sess: Session) -> EngagementBook:
    """Load every active registration once (one query) for bulk checks."""
    book = EngagementBook()
    for row in sess.execute(_active_engagements()):
        book.add(row.customer_key, row.customer_domain, _engagement(row))
    return book


def registration_facts(
    data: RegistrationCreate | Registration,
    *,
    party: str,
    partner_id: int | None,
    registration_id: int | None = None,
    submitted_at: datetime | None = None,
) -> Facts:
    """Return the facts the rules judge a registration (or its input) by."""
    return Facts(
        party=party,
        customer_name=data.customer_name,
        customer_domain=data.customer_domain,
        district=data.district,
        country=data.country,
        pc_count=data.pc_count,
        workloads=frozenset(data.workloads or ()),
        solution_stack=data.solution_stack,
        dotnet_early_adoption=data.dotnet_early_adoption,
        estimated_value=data.estimated_value,
        partner_id=partner_id,
        registration_id=registration_id,
        submitted_at=submitted_at,
        expected_close_date=data.expected_close_date,
    )


def _check_district(sess: Session, district: str | None) -> None:
    if district and sess.get(District, district) is None:
        raise SubmissionError(f"Unknown district {district!r}.", "district")


def refuse_own_duplicate(
    engagements: Sequence[Engagement],
    *,
    party: str,
    partner_id: int | None,
    workloads: Iterable[str],
) -> None:
    """Refuse registering again what the submitter's own organisation already holds."""
    wanted = frozenset(workloads)
    for held in engagements:
        shared = held.workloads & wanted
        if held.party != party or held.partner_id != partner_id or not shared:
            continue
        # A second registration would restart the lifetime (sidestepping the one extension)
        # and, on a named or contested customer, open a second ticket for the same question.
        covered = ", ".join(WORKLOAD_LABELS.get(w, w) for w in sorted(shared))
        raise SubmissionError(
            f"Your organisation already holds registration #{held.registration_id} for this "
            f"customer covering {covered} ({held.status.replace('_', ' ')}). Work on that "
            "registration, and ask for an extension there if it is running out, instead of "
            "registering the deal again.",
            "customer_name",
            existing_id=held.registration_id,
        )


def check_registration(sess: Session, data: RegistrationCreate, *, user: User) -> Decision:
    """Return the decision a registration would get now, as the user may read it; store nothing.

    The facts are built as ``submit_registration`` builds them, so the dry run's outcome is the
    submission's. A partner's dry run names no look-alike account (see
    :func:`partner_dry_run`).
    """
    party = resolve_party(data, user)
    _check_district(sess, data.district)
    key, domain = _customer_keys(data)
    policy = conflict_policy(active_policy(sess))
    engagements = load_engagements(sess, key=key, domain=domain)
    partner_id = user.partner_id if party == "partner" else None
    refuse_own_duplicate(engagements, party=party, partner_id=partner_id, workloads=data.workloads)
    facts = registration_facts(data, party=party, partner_id=partner_id, submitted_at=utcnow())
    decision = rules.evaluate(
        facts, _matcher(sess), engagements, policy, district_names=LazyDistrictNames(sess)
    )
    return partner_dry_run(decision, data.customer_name) if user.role == "partner" else decision


def partner_dry_run(decision: Decision, customer_name: str) -> Decision:
    """Return a dry-run decision as a partner may read it: no look-alike, no other claim's detail.

    A dry run stores nothing and leaves no ticket behind, so unlike a submission it could be
    repeated with guessed names to mine the list, or with every workload and stack to map other
    registrations on a customer; it tells a partner no more about the list than
    ``/accounts/lookup`` does, and about another claim only that it exists.
    """
    findings = tuple(
        rules.conceal_other_claim(rules.conceal_look_alike(f, customer_name), customer_name)
        for f in decision.findings
    )
    return replace(decision, findings=findings)


def find_by_idempotency_key(sess: Session, user: User, key: str) -> Registration | None:
    """Return the registration this user already submitted with this idempotency key."""
    return sess.execute(
        sa.select(Registration).where(
            Registration.submitted_by_id == user.id, Registration.idempotency_key == key
        )
    ).scalar_one_or_none()


def _finding_row(
    reg: Registration,
    finding: Finding,
    *,
    list_version_id: int | None,
    policy_version_id: int | None,
) -> ConflictFinding:
    evidence = dict(rules.findings_to_json([finding])[0]["evidence"])  # type: ignore[call-overload]
    if evidence.get("leader_is_this_registration") is True and reg.id is not None:
        # The rules judged this registration before it had an id; it has one now.
        evidence.setdefault("leader_registration_id", reg.id)
    if finding.district:
        evidence.setdefault("district", finding.district)
    if finding.mcs_owner_email:
        evidence.setdefault("mcs_owner_email", finding.mcs_owner_email)
    return ConflictFinding(
        registration_id=reg.id,
        rule=finding.rule,
        severity=str(finding.severity),
        message=finding.message,
        named_account_id=finding.account_id,
        account_ref=finding.account_ref,
        account_name=finding.account_name,
        method=finding.method,
        score=finding.score,
        other_registration_id=finding.other_registration_id,
        evidence=evidence,
        list_version_id=list_version_id,
        policy_version_id=policy_version_id,
    )


def _open_tickets(
    sess: Session,
    reg: Registration,
    rows: Sequence[ConflictFinding],
    actor_id: int | None,
    *,
    new_registration: bool = False,
) -> list[Ticket]:
    from escalation.service import open_ticket

    # One open ticket per registration and rule: later findings of a rule join the first's,
    # except that each registration an MCS-versus-partner overlap names gets its own ticket.
    opened: dict[tuple[str, int | None], Ticket] = {}
    for row in rows:
        if row.rule not in TICKET_RULES or row.severity == str(Severity.INFO):
            continue
        key = (row.rule, row.other_registration_id if row.rule in PAIRWISE_RULES else None)
        if key in opened:
            row.ticket_id = opened[key].id
            continue
        other = (
            sess.get(Registration, row.other_registration_id) if row.other_registration_id else None
        )
        opened[key] = open_ticket(
            sess,
            registration=reg,
            finding=row,
            other_registration=other,
            actor_id=actor_id,
            new_registration=new_registration,
        )
    return list(opened.values())


def _lock_keys(key: str, domain: str | None) -> list[str]:
    # Sorted so two submissions that share both keys always lock in the same order.
    return sorted({key, f"d:{domain}" if domain else key})


def submit_registration(
    sess: Session,
    data: RegistrationCreate,
    *,
    user: User,
    idempotency_key: str | None = None,
) -> SubmitResult:
    """Judge a new registration, store it with its findings and open the tickets it calls for."""
    if idempotency_key:
        earlier = find_by_idempotency_key(sess, user, idempotency_key)
        if earlier is not None:
            return SubmitResult(earlier, None, [], created=False)
    party = resolve_party(data, user)
    key, domain = _customer_keys(data)
    matcher, policy_row = _lock_and_probe(sess, key, domain, data.district)
    policy = conflict_policy(policy_row)
    now = utcnow()
    engagements = load_engagements(sess, key=key, domain=domain)
    partner_id = user.partner_id if party == "partner" else None
    try:
        # Inside the customer's lock, so two copies sent side by side cannot both pass.
        refuse_own_duplicate(
            engagements, party=party, partner_id=partner_id, workloads=data.workloads
        )
    except SubmissionError:
        # The copy held may be this very request, sent again while it was being stored: the
        # key's look-up above ran before that one committed. Answer it as the replay it is.
        earlier = find_by_idempotency_key(sess, user, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return SubmitResult(earlier, None, [], created=False)
    # Read before any row is added, so the webhook messages this submission causes are written
    # with its other messages in one flush instead of forcing one of their own.
    enabled_endpoints(sess)
    facts = registration_facts(data, party=party, partner_id=partner_id, submitted_at=now)
    decision = rules.evaluate(
        facts, matcher, engagements, policy, district_names=LazyDistrictNames(sess)
    )
    named = next((f for f in decision.findings if f.rule == rules.NAMED_ACCOUNT), None)
    reg = Registration(
        party=party,
        partner_id=partner_id,
        submitted_by_id=user.id,
        customer_name=data.customer_name,
        customer_domain=domain,
        customer_key=key,
        district=data.district,
        country=data.country,
        pc_count=data.pc_count,
        workloads=list(data.workloads),
        solution_stack=data.solution_stack,
        dotnet_early_adoption=data.dotnet_early_adoption,
        estimated_value=data.estimated_value,
        expected_close_date=data.expected_close_date,
        infrastructure_maturity=data.infrastructure_maturity,
        notes=data.notes,
        status=str(decision.outcome),
        matched_account_id=named.account_id if named else None,
        list_version_id=decision.list_version_id,
        policy_version_id=policy_row.id,
        idempotency_key=idempotency_key,
        submitted_at=now,
        decided_at=now,
        updated_at=now,
    )
    if reg.status == "approved":
        reg.expires_at = now + timedelta(days=policy_row.values.registration_lifetime_days)
    sess.add(reg)
    sess.flush()
    rows = [
        _finding_row(
            reg, f, list_version_id=decision.list_version_id, policy_version_id=policy_row.id
        )
        for f in decision.findings
    ]
    if rows:
        sess.add_all(rows)
        sess.flush()
    tickets = _open_tickets(sess, reg, rows, user.id, new_registration=True)
    record_audit(
        sess,
        user.id,
        "registration.submitted",
        "registration",
        reg.id,
        status=reg.status,
        rules=list(decision.rules),
        list_version_id=decision.list_version_id,
        policy_version_id=policy_row.id,
    )
    _notify_submitted(sess, reg, user, decision, tickets)
    return SubmitResult(reg, decision, tickets, created=True, findings=rows)


def _notify_submitted(
    sess: Session, reg: Registration, user: User, decision: Decision, tickets: list[Ticket]
) -> None:
    from escalation import notify

    verdict = rules.describe(decision)
    notify.enqueue_email(
        sess,
        event="registration.received",
        template="registration_received",
        subject=f"Registration {reg.id} for {reg.customer_name}: {reg.status.replace('_', ' ')}",
        context={
            "headline": f"Your registration for {reg.customer_name} was received.",
            "lines": [f.message for f in decision.findings] or ["No rule of engagement applies."],
            "status": reg.status,
            "summary": verdict,
            "url": notify.absolute_url(f"/registrations/{reg.id}"),
            "registration_id": reg.id,
            "customer_name": reg.customer_name,
            "ticket_id": tickets[0].id if tickets else None,
        },
        user=user,
    )
    notify.enqueue_webhooks(
        sess,
        event="registration.submitted",
        payload={
            "registration_id": reg.id,
            "status": reg.status,
            "party": reg.party,
            "partner_id": reg.partner_id,
            "rules": list(decision.rules),
            "ticket_ids": [t.id for t in tickets],
        },
    )


def _ensure_owner(reg: Registration, user: User) -> None:
    if user.role == "admin":
        return
    if user.role == "partner" and reg.partner_id == user.partner_id:
        return
    if user.role == "mcs" and reg.party == "mcs" and reg.submitted_by_id == user.id:
        return
    raise SubmissionError("Only the registering organisation can change this registration.")


def withdraw_registration(sess: Session, reg: Registration, *, user: User, reason: str) -> None:
    """Withdraw an open registration with a reason."""
    _ensure_owner(reg, user)
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise SubmissionError("Say why the registration is withdrawn.", "reason")
    if reg.status not in OPEN_STATUSES:
        raise SubmissionError(f"A registration that is {reg.status} cannot be withdrawn.")
    reg.status = "withdrawn"
    reg.withdrawn_reason = reason
    reg.withdrawn_at = utcnow()
    reg.updated_at = reg.withdrawn_at
    record_audit(sess, user.id, "registration.withdrawn", "registration", reg.id, reason=reason)
    from escalation.service import close_moot_tickets

    # Its open tickets have nothing left to settle: close them, so no SLA runs on a dead deal.
    close_moot_tickets(sess, reg, actor=user)


def request_extension(sess: Session, reg: Registration, *, user: User, reason: str) -> None:
    """Ask to extend an approved registration before it expires (once)."""
    _ensure_owner(reg, user)
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise SubmissionError("Say why the registration should be extended.", "reason")
    now = utcnow()
    if reg.status != "approved" or reg.expires_at is None:
        raise SubmissionError("Only approved registrations with an expiry date can be extended.")
    if reg.expires_at <= now:
        raise SubmissionError("The registration has already expired.")
    if reg.extension_requested_at is not None:
        raise SubmissionError("An extension was already requested.")
    days = active_policy(sess).values.extension_days
    reg.extension_requested_at = now
    reg.extension_reason = reason
    # Extensions are granted on request within policy; the audit trail keeps who asked and why.
    reg.expires_at = reg.expires_at + timedelta(days=days)
    reg.reminder_sent_at = None
    reg.updated_at = now
    record_audit(
        sess, user.id, "registration.extended", "registration", reg.id, reason=reason, days=days
    )


def request_override(sess: Session, reg: Registration, *, user: User, reason: str) -> Ticket:
    """Ask for a level-3 exception to a no-bid block; the registration goes to exception review.

    The no-bid commitment rejects an MCS engagement outright; only a national (level-3) grant
    can override it, so the request opens an exception ticket at level 3, where a national
    reviewer grants or denies it.
    """
    from escalation.service import open_ticket

    _ensure_owner(reg, user)
    reason = (reason or "").strip()
    if len(reason) < 10:
        raise SubmissionError("Explain why the no-bid block should be overridden.", "reason")
    if reg.party != "mcs" or reg.status != "rejected":
        raise SubmissionError("Only a rejected MCS engagement can ask for an override.")
    finding = (
        sess.execute(
            sa.select(ConflictFinding).where(
                ConflictFinding.registration_id == reg.id,
                ConflictFinding.rule == rules.NO_BID_DOTNET,
                ConflictFinding.active.is_(True),
            )
        )
        .scalars()
        .first()
    )
    if finding is None:
        raise SubmissionError("This engagement was not blocked by the no-bid commitment.")
    ticket = open_ticket(sess, registration=reg, finding=finding, actor_id=user.id)
    reg.status = "in_exception_review"
    reg.updated_at = utcnow()
    sess.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind="commented",
            actor_id=user.id,
            body=f"Override requested: {reason}",
        )
    )
    record_audit(
        sess, user.id, "registration.override_requested", "registration", reg.id, reason=reason
    )
    return ticket


def registrations_json(
    sess: Session, regs: Sequence[Registration], *, viewer: User | None = None
) -> list[dict[str, Any]]:
    """Return the API representation of several registrations with two queries in all."""
    ids = [r.id for r in regs if r.id is not None]
    findings: dict[int, list[ConflictFinding]] = {i: [] for i in ids}
    tickets: dict[int, list[tuple[int, str]]] = {i: [] for i in ids}
    rows: list[Ticket] = []
    if ids:
        for f in sess.execute(
            sa.select(ConflictFinding)
            .where(ConflictFinding.registration_id.in_(ids))
            .order_by(ConflictFinding.id)
        ).scalars():
            findings[f.registration_id].append(f)
        rows = list(
            sess.execute(
                sa.select(Ticket)
                .where(
                    sa.or_(Ticket.registration_id.in_(ids), Ticket.other_registration_id.in_(ids))
                )
                .order_by(Ticket.id)
            ).scalars()
        )
        for t in rows:
            # A ticket another registration raised against this one is this one's too: its
            # holder learns from it that the registration is contested.
            for held in (t.registration_id, t.other_registration_id):
                if held is not None and held in tickets:
                    tickets[held].append((t.id or 0, t.status))
        if viewer is not None and viewer.role == "mcs":
            # The same tickets decide what MCS may see: no second query for them.
            _keep_what_mcs_may_see(regs, viewer, rows, findings, tickets)
    return [
        _registration_body(r, findings.get(r.id or 0, []), tickets.get(r.id or 0, []), viewer)
        for r in regs
    ]


def _keep_what_mcs_may_see(
    regs: Sequence[Registration],
    viewer: User,
    rows: Sequence[Ticket],
    findings: dict[int, list[ConflictFinding]],
    tickets: dict[int, list[tuple[int, str]]],
) -> None:
    """Narrow a partner's registration, seen by MCS through a conflict, to that conflict."""
    from escalation.service import visible_to

    looked_in = [r.id for r in regs if r.id is not None and r.party != "mcs"]
    if not looked_in:
        return
    shown = {t.id for t in rows if visible_to(viewer, t)}
    for reg_id in looked_in:
        # The partner's conflicts with other partners, and its own findings, are not MCS's.
        findings[reg_id] = [f for f in findings[reg_id] if f.ticket_id in shown]
        tickets[reg_id] = [(tid, status) for tid, status in tickets[reg_id] if tid in shown]


def looking_in_on_partner(viewer: User, reg: Registration) -> bool:
    """Return True when MCS looks at a partner's registration (through a conflict)."""
    return viewer.role == "mcs" and reg.party != "mcs"


def registration_json(
    sess: Session, reg: Registration, *, viewer: User | None = None
) -> dict[str, Any]:
    """Return the API representation of a registration with its findings and tickets."""
    return registrations_json(sess, [reg], viewer=viewer)[0]


def _registration_body(
    reg: Registration,
    findings: Sequence[ConflictFinding],
    tickets: Sequence[tuple[int, str]],
    viewer: User | None,
) -> dict[str, Any]:
    for_partner = viewer is None or viewer.role == "partner"
    # MCS sees a partner's registration only as the other side of a conflict: enough to know
    # the deal (customer, size, workloads), not its commercial terms or the partner's notes.
    hidden = viewer is not None and looking_in_on_partner(viewer, reg)
    open_ids = [tid for tid, status in tickets if status != "decided"]
    return {
        "id": reg.id,
        "status": reg.status,
        "party": reg.party,
        "partner_id": reg.partner_id,
        "customer_name": reg.customer_name,
        "customer_domain": reg.customer_domain,
        "district": reg.district,
        "country": reg.country,
        "pc_count": reg.pc_count,
        "workloads": list(reg.workloads or []),
        "solution_stack": reg.solution_stack,
        "dotnet_early_adoption": reg.dotnet_early_adoption,
        "estimated_value": None if hidden else reg.estimated_value,
        "expected_close_date": (
            reg.expected_close_date.isoformat() if reg.expected_close_date and not hidden else None
        ),
        "infrastructure_maturity": reg.infrastructure_maturity,
        "notes": None if hidden else reg.notes,
        "findings": [finding_json(f, for_partner=for_partner) for f in findings],
        "ticket_id": open_ids[0] if open_ids else (tickets[0][0] if tickets else None),
        "ticket_ids": [tid for tid, _ in tickets],
        "list_version_id": reg.list_version_id,
        "policy_version_id": reg.policy_version_id,
        "submitted_at": reg.submitted_at.isoformat(),
        "expires_at": reg.expires_at.isoformat() if reg.expires_at else None,
    }


# Evidence a partner may see: enough to understand the verdict, nothing about another
# partner's registration (its id, stack, dates), no other named accounts and no MCS owner's
# address (a named-account finding's sentence names the owner, as the look-up does).
PARTNER_VISIBLE_EVIDENCE: frozenset[str] = frozenset(
    {
        "district",
        "overlapping_workloads",
        "leader_is_this_registration",
        "reason",
        "match_score_needed",
    }
)


def partner_safe_evidence(evidence: dict[str, Any] | None) -> dict[str, Any]:
    """Return only the evidence keys a partner may see."""
    return {k: v for k, v in (evidence or {}).items() if k in PARTNER_VISIBLE_EVIDENCE}


def decision_findings_json(decision: Decision, *, for_partner: bool = True) -> list[dict[str, Any]]:
    """Return a dry run's findings in the API shape (redacted for partners)."""
    out = rules.findings_to_json(decision.findings)
    if for_partner:
        for item in out:
            item["other_registration_id"] = None
            item["evidence"] = partner_safe_evidence(item["evidence"])  # type: ignore[arg-type]
    return out


def finding_json(f: ConflictFinding, *, for_partner: bool = True) -> dict[str, Any]:
    """Return a stored finding in the API shape (redacted for partners)."""
    return {
        "rule": f.rule,
        "severity": f.severity,
        "message": f.message,
        "account_id": f.named_account_id,
        "account_name": f.account_name,
        "method": f.method,
        "score": None if f.score is None else round(f.score, 1),
        "other_registration_id": None if for_partner else f.other_registration_id,
        "active": f.active,
        "evidence": partner_safe_evidence(f.evidence) if for_partner else f.evidence,
    }


def recheck_open_registrations(
    sess: Session, *, list_version: Any, actor_id: int | None = None
) -> RecheckSummary:
    """Re-judge every open partner registration against a newly published list.

    Only the list-dependent rules can change when the list changes, so only they run: a new
    match opens a ticket, a match that no longer holds is released and noted on its ticket.
    """
    from conflict.index_cache import build_index
    from escalation.service import release_finding

    index = build_index(sess, list_version.id)
    policy_row = active_policy(sess)
    policy = conflict_policy(policy_row)
    regs = (
        sess.execute(
            sa.select(Registration)
            .where(Registration.status.in_(OPEN_STATUSES), Registration.party == "partner")
            .order_by(Registration.id)
        )
        .scalars()
        .all()
    )
    names = LazyDistrictNames(sess)
    active_rows: dict[int, list[ConflictFinding]] = {}
    for row in sess.execute(
        sa.select(ConflictFinding).where(
            ConflictFinding.active.is_(True), ConflictFinding.rule.in_(LIST_RULES)
        )
    ).scalars():
        active_rows.setdefault(row.registration_id, []).append(row)
    new_conflicts: list[int] = []
    released: list[int] = []
    matched: dict[tuple[str, str | None, str | None, int | None], tuple[AccountMatch, ...]] = {}
    for reg in regs:
        facts = registration_facts(
            reg, party="partner", partner_id=reg.partner_id, registration_id=reg.id
        )
        # Several registrations usually name one customer; match each customer once.
        match_key = (reg.customer_name, reg.customer_domain, reg.district, reg.pc_count)
        if match_key not in matched:
            matched[match_key] = tuple(
                index.match(
                    reg.customer_name,
                    reg.customer_domain,
                    district=reg.district,
                    pc_count=reg.pc_count,
                    match_score=policy.fuzzy_match_score,
                    review_score=policy.fuzzy_review_score,
                )
            )
        ctx = rules.Context(
            matches=matched[match_key],
            engagements=(),
            list_version_id=list_version.id,
            district_names=names,
        )
        fresh = [f for rule in LIST_RULES for f in rules.RULES[rule](facts, ctx, policy)]
        current = active_rows.get(reg.id or 0, [])
        fresh_keys = {(f.rule, f.account_ref) for f in fresh}
        current_keys = {(r.rule, r.account_ref) for r in current}
        gone = [r for r in current if (r.rule, r.account_ref) not in fresh_keys]
        added = [f for f in fresh if (f.rule, f.account_ref) not in current_keys]
        if added:
            rows = [
                _finding_row(
                    reg, f, list_version_id=list_version.id, policy_version_id=policy_row.id
                )
                for f in added
            ]
            sess.add_all(rows)
            sess.flush()
            if reg.status in ("approved", "submitted"):
                reg.status = "in_conflict"
                reg.updated_at = utcnow()
            reg.list_version_id = list_version.id
            _open_tickets(sess, reg, rows, actor_id)
            new_conflicts.append(reg.id or 0)
        # Released after the new findings joined the open ticket of their rule: a ticket that
        # still holds a finding stays open, and only one left with none closes.
        for row in gone:
            release_finding(
                sess,
                row,
                reason=f"The account is not on named-account list version {list_version.id}.",
                actor_id=actor_id,
            )
        if gone:
            released.append(reg.id or 0)
    record_audit(
        sess,
        actor_id,
        "registrations.rechecked",
        "named_account_list",
        list_version.id,
        checked=len(regs),
        new_conflicts=len(new_conflicts),
        released=len(released),
    )
    return RecheckSummary(len(regs), new_conflicts, released)
