"""Several partners on one customer: the Digital Partner of Record and secondary partners' seats.

A customer designates one partner of record (DPOR) per workload; that partner earns the
incentives. Other partners working on the customer still earn seat credit toward their
competencies, on evidence from EA/Open, CSP, FastTrack or delegated-admin records. Functions
here take the caller's session and never commit.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from conflict.types import WORKLOADS
from models import DporDesignation, Partner, Registration, SeatCredit, User, utcnow
from models.audit_log import record_audit
from models.db import lock_key
from models.partner import COMPETENCIES
from models.seat_credit import EVIDENCE_SOURCES

# The competency a workload's seats count toward when the evidence names none.
WORKLOAD_COMPETENCY: dict[str, str] = {
    "dotnet_server": "isv_software",
    "middleware": "isv_software",
    "windows_server": "advanced_infrastructure",
    "sql_server": "data_management",
    "exchange": "information_worker",
    "sharepoint": "information_worker",
    "yammer": "information_worker",
    "skype": "information_worker",
    "office365": "information_worker",
    "azure": "advanced_infrastructure",
    "dynamics": "integrated_business",
}
assert set(WORKLOAD_COMPETENCY) == set(WORKLOADS)
assert set(WORKLOAD_COMPETENCY.values()) <= set(COMPETENCIES)

STAFF_ROLES: frozenset[str] = frozenset({"admin", "reviewer"})


class DporError(ValueError):
    """A designation or seat credit that the rules do not allow."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class CreditSummary:
    """A partner's seat credits with totals by competency and by workload."""

    credits: list[SeatCredit]
    by_competency: dict[str, int] = field(default_factory=dict)
    by_workload: dict[str, int] = field(default_factory=dict)
    total: int = 0


def customer_key_for(name: str) -> str:
    """Return the customer key registrations use for a customer name."""
    from conflict.service import customer_name_key

    return customer_name_key(name)


def _ensure_staff(user: User) -> None:
    if user.role not in STAFF_ROLES:
        raise DporError("Only channel managers and administrators record this.")


def _active_partner(sess: Session, partner_id: int | None) -> Partner:
    partner = sess.get(Partner, partner_id) if partner_id else None
    if partner is None or not partner.active:
        raise DporError("Choose an active partner.", "partner_id")
    return partner


def _check_workload(workload: str) -> None:
    if workload not in WORKLOADS:
        raise DporError(f"Unknown workload {workload!r}.", "workload")


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if len(name) < 2:
        raise DporError("Enter the customer's name.", "customer_name")
    return name[:300]


def designate_dpor(
    sess: Session,
    *,
    user: User,
    partner_id: int,
    workload: str,
    customer_name: str | None = None,
    registration: Registration | None = None,
) -> DporDesignation:
    """Make a partner the customer's partner of record for a workload, ending the previous one."""
    _ensure_staff(user)
    _check_workload(workload)
    partner = _active_partner(sess, partner_id)
    if registration is not None:
        if registration.party != "partner" or registration.partner_id != partner.id:
            raise DporError("The partner of record must be the registering partner.", "partner_id")
        if workload not in (registration.workloads or []):
            raise DporError("The registration does not cover that workload.", "workload")
        if registration.status in ("rejected", "withdrawn", "expired"):
            # A designation rests on a live deal; a dead one is no evidence of the partner's work.
            raise DporError(
                f"This registration is {registration.status}: record the partner of record on a "
                "registration that is still open, or from the customer page.",
                "partner_id",
            )
        name, key = registration.customer_name, registration.customer_key
    else:
        name = _clean_name(customer_name or "")
        key = customer_key_for(name)
    # One active designation per customer and workload: serialise re-designations; the partial
    # unique index is the backstop when two staff members act at once.
    lock_key(sess, f"dpor:{key}:{workload}")
    current = sess.execute(
        sa.select(DporDesignation).where(
            DporDesignation.customer_key == key,
            DporDesignation.workload == workload,
            DporDesignation.active.is_(True),
        )
    ).scalar_one_or_none()
    if current is not None and current.partner_id == partner.id:
        return current
    now = utcnow()
    if current is not None:
        current.active = False
        current.ended_at = now
        # The old row must leave the unique index before the new one enters it.
        sess.flush()
    designation = DporDesignation(
        customer_key=key,
        customer_name=name,
        workload=workload,
        partner_id=partner.id,
        registration_id=registration.id if registration is not None else None,
        designated_by_id=user.id,
        designated_at=now,
    )
    sess.add(designation)
    sess.flush()
    record_audit(
        sess,
        user.id,
        "dpor.designated",
        "dpor_designation",
        designation.id,
        customer_key=key,
        workload=workload,
        partner_id=partner.id,
        replaced_partner_id=current.partner_id if current is not None else None,
    )
    return designation


def active_designations(
    sess: Session, customer_key: str, *, partner_id: int | None = None
) -> list[DporDesignation]:
    """Return the current partners of record on a customer (optionally for one partner only)."""
    query = sa.select(DporDesignation).where(
        DporDesignation.customer_key == customer_key, DporDesignation.active.is_(True)
    )
    if partner_id is not None:
        query = query.where(DporDesignation.partner_id == partner_id)
    return list(sess.execute(query.order_by(DporDesignation.workload)).scalars())


def designation_history(sess: Session, customer_key: str) -> list[DporDesignation]:
    """Return every designation on a customer, newest first."""
    return list(
        sess.execute(
            sa.select(DporDesignation)
            .where(DporDesignation.customer_key == customer_key)
            .order_by(DporDesignation.designated_at.desc(), DporDesignation.id.desc())
        ).scalars()
    )


def record_seat_credit(
    sess: Session,
    *,
    user: User,
    partner_id: int,
    customer_name: str,
    workload: str,
    seats: int,
    source: str,
    evidence_ref: str,
    competency: str | None = None,
) -> SeatCredit:
    """Credit seats on a customer's workload to a partner, with the evidence that proves them."""
    _ensure_staff(user)
    _check_workload(workload)
    partner = _active_partner(sess, partner_id)
    name = _clean_name(customer_name)
    if source not in EVIDENCE_SOURCES:
        raise DporError(
            "The evidence source must be one of " + ", ".join(EVIDENCE_SOURCES) + ".", "source"
        )
    if not isinstance(seats, int) or seats < 1:
        raise DporError("Credit at least one seat.", "seats")
    evidence_ref = (evidence_ref or "").strip()
    if not evidence_ref:
        raise DporError("Give the record that proves the seats.", "evidence_ref")
    competency = competency or WORKLOAD_COMPETENCY[workload]
    if competency not in COMPETENCIES:
        raise DporError(f"Unknown competency {competency!r}.", "competency")
    key = customer_key_for(name)
    evidence_ref = evidence_ref[:200]
    # One credit per evidence record: a second press of the button, or a second person keying
    # in the same order, must not count its seats twice. The lock makes the check hold when two
    # arrive at once.
    lock_key(sess, f"seats:{partner.id}:{key}:{workload}:{source}:{evidence_ref}")
    earlier = sess.execute(
        sa.select(SeatCredit).where(
            SeatCredit.partner_id == partner.id,
            SeatCredit.customer_key == key,
            SeatCredit.workload == workload,
            SeatCredit.source == source,
            SeatCredit.evidence_ref == evidence_ref,
        )
    ).scalar_one_or_none()
    if earlier is not None:
        raise DporError(
            f"These seats are already credited: {earlier.seats} seat(s) on "
            f"{earlier.created_at:%Y-%m-%d} from the same {source} record {evidence_ref!r}.",
            "evidence_ref",
        )
    credit = SeatCredit(
        partner_id=partner.id,
        customer_key=key,
        customer_name=name,
        workload=workload,
        seats=seats,
        source=source,
        evidence_ref=evidence_ref,
        competency=competency,
        recorded_by_id=user.id,
    )
    sess.add(credit)
    sess.flush()
    record_audit(
        sess,
        user.id,
        "seat_credit.recorded",
        "seat_credit",
        credit.id,
        partner_id=partner.id,
        workload=workload,
        seats=seats,
        source=source,
    )
    return credit


def summarise(credits: Sequence[SeatCredit]) -> CreditSummary:
    """Total seat credits by competency and by workload."""
    by_competency: dict[str, int] = {}
    by_workload: dict[str, int] = {}
    for c in credits:
        comp = c.competency or WORKLOAD_COMPETENCY.get(c.workload, "unassigned")
        by_competency[comp] = by_competency.get(comp, 0) + c.seats
        by_workload[c.workload] = by_workload.get(c.workload, 0) + c.seats
    return CreditSummary(
        credits=list(credits),
        by_competency=dict(sorted(by_competency.items())),
        by_workload=dict(sorted(by_workload.items())),
        total=sum(c.seats for c in credits),
    )


def partner_credits(sess: Session, partner_id: int) -> CreditSummary:
    """Return a partner's seat credits, newest first, with their totals."""
    rows = sess.execute(
        sa.select(SeatCredit)
        .where(SeatCredit.partner_id == partner_id)
        .order_by(SeatCredit.created_at.desc(), SeatCredit.id.desc())
    ).scalars()
    return summarise(list(rows))


def customer_credits(sess: Session, customer_key: str) -> list[SeatCredit]:
    """Return every seat credit recorded on a customer, newest first."""
    return list(
        sess.execute(
            sa.select(SeatCredit)
            .where(SeatCredit.customer_key == customer_key)
            .order_by(SeatCredit.created_at.desc(), SeatCredit.id.desc())
        ).scalars()
    )
