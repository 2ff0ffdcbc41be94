"""JSON API routes for tickets: list, read and decide."""

import base64
import binascii
import json
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from flask import Flask
from pydantic import BaseModel, ConfigDict, Field
from spectree import Response
from sqlalchemy.orm import Session

from conflict.schemas import NulFreeStr
from escalation import service
from escalation.queries import visible_tickets
from escalation.states import InvalidDecision, InvalidTransition
from models import ConflictFinding, Registration, Ticket, TicketEvent, User
from models.base import MAX_ID
from models.db import session as db_session
from web.api_base import ErrorOut, api, api_user, validate
from web.errors import json_error
from web.evidence import own_registration_ids, partner_evidence, partner_message, ticket_title_for

# --- schemas ------------------------------------------------------------------------------


class TicketFindingOut(BaseModel):
    """A finding with the evidence behind it."""

    id: int
    rule: str
    severity: str
    message: str = Field(
        description=(
            "The finding in a sentence. A partner on the other side of a partner-vs-partner "
            "ticket reads it told from their own registration, never naming the other partner."
        )
    )
    account_id: int | None = None
    account_ref: str | None = None
    account_name: str | None = None
    method: str | None = None
    score: float | None = None
    evidence: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            "What the rule matched. Partner callers get only the keys that say nothing about "
            "another registration (district, mcs_owner_email, overlapping_workloads, reason, "
            "leader_is_this_registration, match_score_needed); leader_is_this_registration "
            "then says whether the caller's own registration leads."
        ),
    )
    list_version_id: int | None = None
    policy_version_id: int | None = None
    active: bool = True


class EventOut(BaseModel):
    """One timeline entry."""

    id: int
    kind: str
    visibility: str
    actor_id: int | None = None
    body: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class TicketOut(BaseModel):
    """A ticket with its findings and the timeline the caller may see."""

    id: int
    type: str
    rule: str
    title: str = Field(
        description=(
            "Rule and customer. A partner caller reads the customer as their own "
            "registration names it."
        )
    )
    status: str
    level: int
    district: str | None = None
    region: str | None = None
    owner_id: int | None = None
    registration_id: int | None = Field(
        description=(
            "The registration whose check opened the ticket. Null for a partner caller when "
            "it is another organisation's registration (the other side of the conflict)."
        )
    )
    other_registration_id: int | None = Field(
        default=None,
        description=(
            "The registration on the other side of the conflict, if any. Partner and MCS "
            "callers get it only when it is their own organisation's registration; otherwise "
            "it is null."
        ),
    )
    opened_at: datetime
    sla_due_at: datetime | None = None
    breached: bool
    resolution: str | None = None
    rationale: str | None = None
    decided_at: datetime | None = None
    list_version_id: int | None = None
    policy_version_id: int | None = None
    findings: list[TicketFindingOut] = Field(default_factory=list)
    timeline: list[EventOut] = Field(default_factory=list)


class TicketList(BaseModel):
    """A page of tickets."""

    items: list[TicketOut]
    next_cursor: str | None = None


class TicketQuery(BaseModel):
    """Filters and position for the ticket list."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "in_review", "decided"] | None = None
    rule: NulFreeStr | None = Field(default=None, max_length=40)
    district: NulFreeStr | None = Field(default=None, max_length=40)
    cursor: NulFreeStr | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=200)


class DecisionIn(BaseModel):
    """A decision: a resolution and the rationale for it."""

    model_config = ConfigDict(extra="forbid")

    # The resolutions a person may choose (no_conflict is the system's); which of them fit a
    # ticket depends on its type and parties, and the service refuses the others.
    resolution: Literal[
        "partner_leads",
        "mcs_leads",
        "joint_engagement",
        "rejected",
        "exception_granted",
        "exception_denied",
    ]
    rationale: NulFreeStr = Field(max_length=4000)


# --- helpers ------------------------------------------------------------------------------


def _encode_cursor(before_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": before_id}).encode()).decode()


def _decode_cursor(token: str) -> int | None:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()).decode())["before"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _other_registration_id(ticket: Ticket, user: User, staff: bool) -> int | None:
    if staff or ticket.other_registration_id is None:
        return ticket.other_registration_id
    if user.role == "partner":
        mine = user.partner_id is not None and ticket.other_partner_id == user.partner_id
    else:
        # Only MCS registrations have no partner organisation.
        mine = user.role == "mcs" and ticket.other_partner_id is None
    return ticket.other_registration_id if mine else None


def _own_customer_names(sess: Session, sides: dict[int, frozenset[int] | None]) -> dict[int, str]:
    """Return each partner-side registration's customer name, as its own partner wrote it."""
    ids = {i for own in sides.values() if own for i in own}
    if not ids:
        return {}
    rows = sess.execute(
        sa.select(Registration.id, Registration.customer_name).where(Registration.id.in_(ids))
    )
    return {reg_id: name for reg_id, name in rows.all()}


def _serialise(tickets: list[Ticket], user: User) -> list[TicketOut]:
    """Return tickets in API form as the user may read them, loading rows in a few queries."""
    if not tickets:
        return []
    sess = db_session()
    staff = service.is_staff(user)
    ids = [t.id for t in tickets if t.id is not None]
    # A partner reads only their own side of a ticket: None means every side.
    sides = {t.id or 0: own_registration_ids(t, user) for t in tickets}
    names = _own_customer_names(sess, sides)
    customer = {
        tid: next((names[i] for i in sorted(own) if i in names), "")
        for tid, own in sides.items()
        if own
    }
    findings: dict[int, list[TicketFindingOut]] = {i: [] for i in ids}
    bodies: dict[int, dict[str, str]] = {i: {} for i in ids}
    for f in sess.execute(
        sa.select(ConflictFinding)
        .where(ConflictFinding.ticket_id.in_(ids))
        .order_by(ConflictFinding.id)
    ).scalars():
        tid = f.ticket_id or 0
        own_ids = sides.get(tid)
        message, evidence = f.message, f.evidence or {}
        if own_ids is not None:
            own = f.registration_id in own_ids
            message = partner_message(f, own=own, customer_name=customer.get(tid, ""))
            evidence = partner_evidence(f.rule, evidence, own=own)
            if message != f.message:
                bodies.setdefault(tid, {})[f.message] = message
        findings.setdefault(tid, []).append(
            TicketFindingOut(
                id=f.id,
                rule=f.rule,
                severity=f.severity,
                message=message,
                account_id=f.named_account_id,
                account_ref=f.account_ref,
                account_name=f.account_name,
                method=f.method,
                score=f.score,
                evidence=evidence,
                list_version_id=f.list_version_id,
                policy_version_id=f.policy_version_id,
                active=f.active,
            )
        )
    events_q = sa.select(TicketEvent).where(TicketEvent.ticket_id.in_(ids))
    if not staff:
        events_q = events_q.where(TicketEvent.visibility == "public")
    timeline: dict[int, list[EventOut]] = {i: [] for i in ids}
    for e in sess.execute(events_q.order_by(TicketEvent.created_at, TicketEvent.id)).scalars():
        swap = bodies.get(e.ticket_id, {}) if e.kind == "opened" else {}
        timeline.setdefault(e.ticket_id, []).append(
            EventOut(
                id=e.id,
                kind=e.kind,
                visibility=e.visibility,
                actor_id=e.actor_id if staff else None,
                body=swap.get(e.body, e.body),
                data=(e.data or {}) if staff else {},
                created_at=e.created_at,
            )
        )
    out = []
    for t in tickets:
        own_ids = sides.get(t.id or 0)
        out.append(
            TicketOut(
                id=t.id,
                type=t.type,
                rule=t.rule,
                title=ticket_title_for(t, own_ids, customer.get(t.id or 0, "")),
                status=t.status,
                level=t.level,
                district=t.district,
                region=t.region,
                owner_id=t.owner_id,
                registration_id=(
                    t.registration_id if own_ids is None or t.registration_id in own_ids else None
                ),
                other_registration_id=_other_registration_id(t, user, staff),
                opened_at=t.opened_at,
                sla_due_at=t.sla_due_at,
                breached=t.breached,
                resolution=t.resolution,
                rationale=t.rationale,
                decided_at=t.decided_at,
                list_version_id=t.list_version_id,
                policy_version_id=t.policy_version_id,
                findings=findings.get(t.id or 0, []),
                timeline=timeline.get(t.id or 0, []),
            )
        )
    return out


def _visible_or_404(ticket_id: int) -> Ticket | None:
    ticket = db_session().get(Ticket, ticket_id)
    if ticket is None or not service.visible_to(api_user(), ticket):
        return None
    return ticket


# --- routes -------------------------------------------------------------------------------


@api.get("/tickets")
@validate(
    query=TicketQuery,
    resp=Response(HTTP_200=TicketList, HTTP_400=ErrorOut, HTTP_401=ErrorOut, HTTP_422=ErrorOut),
    tags=["tickets"],
)
def list_tickets(query: TicketQuery) -> Any:
    """List the tickets the caller may see, newest first."""
    before = None
    if query.cursor:
        before = _decode_cursor(query.cursor)
        # Cursors name a ticket id; one past the id column's range was not made here.
        if before is None or not 0 < before <= MAX_ID:
            # 400, as GET /registrations answers: a cursor is the API's own token, not input.
            message = "The cursor is not valid; start again from the first page."
            return json_error(400, message, {"fields": {"cursor": message}})
    user = api_user()
    tickets, next_id = visible_tickets(
        db_session(),
        user,
        status=query.status,
        rule=query.rule,
        district=query.district,
        before_id=before,
        limit=query.limit,
    )
    return TicketList(
        items=_serialise(tickets, user),
        next_cursor=_encode_cursor(next_id) if next_id is not None else None,
    )


@api.get("/tickets/<int:ticket_id>")
@validate(
    resp=Response(HTTP_200=TicketOut, HTTP_401=ErrorOut, HTTP_404=ErrorOut),
    tags=["tickets"],
)
def get_ticket(ticket_id: int) -> Any:
    """Return one ticket (partners see only their own, and only the public timeline)."""
    ticket = _visible_or_404(ticket_id)
    if ticket is None:
        return json_error(404, "No such ticket.")
    return _serialise([ticket], api_user())[0]


@api.post("/tickets/<int:ticket_id>/decision")
@validate(
    json=DecisionIn,
    resp=Response(
        HTTP_200=TicketOut,
        HTTP_401=ErrorOut,
        HTTP_403=ErrorOut,
        HTTP_404=ErrorOut,
        HTTP_409=ErrorOut,
        HTTP_422=ErrorOut,
    ),
    tags=["tickets"],
)
def decide_ticket(ticket_id: int, json: DecisionIn) -> Any:
    """Decide a ticket with a resolution and rationale."""
    user = api_user()
    sess = db_session()
    ticket = _visible_or_404(ticket_id)
    if ticket is None:
        return json_error(404, "No such ticket.")
    if not service.can_work(user, ticket):
        if user.role == "partner":
            return json_error(404, "No such ticket.")
        return json_error(403, "You may not decide this ticket.")
    if ticket.status == "decided":
        return json_error(
            409,
            "The ticket is already decided.",
            {"resolution": ticket.resolution, "decided_at": ticket.decided_at.isoformat()}
            if ticket.decided_at
            else {},
        )
    try:
        service.decide(
            sess, ticket, actor=user, resolution=json.resolution, rationale=json.rationale
        )
    except InvalidDecision as exc:
        sess.rollback()
        text = str(exc)
        field = "rationale" if "rationale" in text else "resolution"
        return json_error(422, text, {"fields": {field: text}})
    except InvalidTransition as exc:
        sess.rollback()
        return json_error(409, str(exc))
    except service.PermissionDenied as exc:
        sess.rollback()
        return json_error(403, str(exc))
    sess.commit()
    return _serialise([ticket], user)[0]


def init_app(app: Flask) -> None:
    """Attach nothing: the routes register on the shared API blueprint at import."""
