"""JSON API for registrations and dry-run conflict checks, on the shared /api/v1 blueprint.

Idempotency: ``POST /registrations`` honours an ``Idempotency-Key`` header. The same key from the
same user returns the registration it created (200 instead of 201). A key reused with a different
request answers 409: the stored registration's input fields are compared with the new request, so
no separate fingerprint needs storing.
"""

from datetime import date
from typing import Any, Literal

from flask import Flask, request, url_for
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from spectree import Response
from sqlalchemy.exc import IntegrityError

from conflict import rules
from conflict.schemas import NulFreeStr, RegistrationCreate, RegistrationPublic
from conflict.service import (
    SubmissionError,
    check_registration,
    decision_findings_json,
    find_by_idempotency_key,
    registration_json,
    registrations_json,
    submit_registration,
)
from conflict.views import (
    BadCursor,
    filter_registrations,
    may_see_registration,
    page_of,
    registration_scope,
)
from models import Registration
from models.db import session as db_session
from web.api_base import ErrorOut, api, api_user, require_api_role, validate
from web.errors import json_error

TAGS = ["registrations"]

RegStatus = Literal[
    "submitted",
    "approved",
    "in_conflict",
    "in_exception_review",
    "rejected",
    "expired",
    "withdrawn",
]


class FindingOut(BaseModel):
    """One rule's finding with the evidence behind it."""

    rule: str
    severity: str
    message: str
    account_id: int | None = None
    account_name: str | None = None
    method: str | None = None
    score: float | None = None
    other_registration_id: int | None = None
    active: bool = True
    evidence: dict[str, Any] = Field(default_factory=dict)


class RegistrationOut(RegistrationPublic):
    """A registration with its decision: status, findings and tickets."""

    findings: list[FindingOut]  # type: ignore[assignment]


class RegistrationPage(BaseModel):
    """One page of registrations, newest first."""

    items: list[RegistrationOut]
    next_cursor: str | None = None


class RegistrationQuery(BaseModel):
    """Filters and paging of the registration list."""

    model_config = ConfigDict(extra="forbid")

    status: RegStatus | None = None
    customer: NulFreeStr | None = Field(default=None, max_length=300, description="Name contains.")
    submitted_from: date | None = None
    submitted_to: date | None = None
    cursor: NulFreeStr | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=200)

    @field_validator("submitted_to")
    @classmethod
    def _forwards(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("submitted_from")
        if value is not None and start is not None and value < start:
            raise ValueError("the end date is before the start date")
        return value


class SubmitHeaders(BaseModel):
    """Optional request headers of a submission."""

    model_config = ConfigDict(populate_by_name=True)

    idempotency_key: str | None = Field(
        default=None,
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="Repeat a submission safely: the same key returns the same registration.",
    )


class CheckOut(BaseModel):
    """The decision a registration would get now; nothing is stored."""

    outcome: str
    summary: str
    findings: list[FindingOut]
    list_version_id: int | None
    policy_version_id: int | None


ERRORS: dict[str, Any] = {
    "HTTP_401": ErrorOut,
    "HTTP_403": ErrorOut,
    # Declared explicitly: left out, SpecTree maps 422 to its own validation-error type and
    # fails (500) when a view itself answers 422.
    "HTTP_422": ErrorOut,
    "HTTP_429": ErrorOut,
}


def _same_request(reg: Registration, data: RegistrationCreate) -> bool:
    """Return True when a replayed request asks for exactly what the registration records."""
    return (
        reg.customer_name == data.customer_name
        and (reg.customer_domain or None) == data.customer_domain
        and reg.district == data.district
        and reg.country == data.country
        and reg.pc_count == data.pc_count
        and sorted(reg.workloads or []) == sorted(data.workloads)
        and reg.solution_stack == data.solution_stack
        and bool(reg.dotnet_early_adoption) == data.dotnet_early_adoption
        and reg.estimated_value == data.estimated_value
        and reg.expected_close_date == data.expected_close_date
        and reg.infrastructure_maturity == data.infrastructure_maturity
        and (reg.notes or "") == data.notes
        and (data.party is None or data.party == reg.party)
    )


def _replay(reg: Registration, data: RegistrationCreate) -> Any:
    if not _same_request(reg, data):
        return json_error(
            409,
            "This Idempotency-Key was already used for a different registration.",
            {"registration_id": reg.id},
            code="idempotency_key_reused",
        )
    body = registration_json(db_session(), reg, viewer=api_user())
    return body, 200, {"Idempotent-Replayed": "true", "Location": _location(reg)}


def submission_error(exc: SubmissionError) -> Any:
    """Answer a refused submission: 409 when it repeats a registration, else 422."""
    fields = {"fields": {exc.field or "body": exc.message}}
    if exc.existing_id is not None:
        details = fields | {"registration_id": exc.existing_id}
        return json_error(409, exc.message, details, code="duplicate_registration")
    return json_error(422, exc.message, fields)


def _location(reg: Registration) -> str:
    return url_for("api.get_registration", reg_id=reg.id)


@api.route("/registrations", methods=["POST"])
@validate(
    json=RegistrationCreate,
    headers=SubmitHeaders,
    resp=Response(HTTP_201=RegistrationOut, HTTP_200=RegistrationOut, HTTP_409=ErrorOut, **ERRORS),
    tags=TAGS,
)
def create_registration() -> Any:
    """Submit a registration; the answer carries its decision (201, or 200 on a replay)."""
    require_api_role("partner", "mcs", "admin")
    user = api_user()
    data: RegistrationCreate = request.context.json  # type: ignore[attr-defined]
    key: str | None = request.context.headers.idempotency_key  # type: ignore[attr-defined]
    sess = db_session()
    try:
        result = submit_registration(sess, data, user=user, idempotency_key=key)
        if not result.created:
            return _replay(result.registration, data)
        # Built before the commit, from the rows just written, so nothing is read back.
        body, location = result.body(user), _location(result.registration)
        sess.commit()
    except SubmissionError as exc:
        sess.rollback()
        return submission_error(exc)
    except IntegrityError:
        # A concurrent request with the same key won the unique constraint.
        sess.rollback()
        earlier = find_by_idempotency_key(sess, user, key) if key else None
        if earlier is None:
            raise
        return _replay(earlier, data)
    return body, 201, {"Location": location}


@api.route("/registrations", methods=["GET"])
@validate(
    query=RegistrationQuery,
    resp=Response(HTTP_200=RegistrationPage, HTTP_400=ErrorOut, **ERRORS),
    tags=TAGS,
)
def list_registrations() -> Any:
    """List the registrations the caller's organisation may see, newest first."""
    require_api_role("partner", "mcs", "admin")
    q: RegistrationQuery = request.context.query  # type: ignore[attr-defined]
    query = filter_registrations(
        registration_scope(api_user()),
        status=q.status,
        customer=q.customer,
        submitted_from=q.submitted_from,
        submitted_to=q.submitted_to,
    )
    try:
        rows, next_cursor = page_of(query, q.cursor, q.limit)
    except BadCursor as exc:
        return json_error(400, str(exc), {"fields": {"cursor": str(exc)}})
    sess = db_session()
    return {
        "items": registrations_json(sess, rows, viewer=api_user()),
        "next_cursor": next_cursor,
    }


@api.route("/registrations/<int:reg_id>", methods=["GET"])
@validate(resp=Response(HTTP_200=RegistrationOut, HTTP_404=ErrorOut, **ERRORS), tags=TAGS)
def get_registration(reg_id: int) -> Any:
    """Return one registration with its findings and tickets (404 for another partner's)."""
    require_api_role("partner", "mcs", "reviewer", "admin")
    sess = db_session()
    reg = sess.get(Registration, reg_id)
    if reg is None or not may_see_registration(sess, reg, api_user()):
        return json_error(404, f"No registration {reg_id}.")
    return registration_json(sess, reg, viewer=api_user())


@api.route("/conflict-check", methods=["POST"])
@validate(
    json=RegistrationCreate,
    resp=Response(HTTP_200=CheckOut, HTTP_409=ErrorOut, **ERRORS),
    tags=TAGS,
)
def conflict_check() -> Any:
    """Return the decision a registration would get now (a dry run: nothing is stored)."""
    require_api_role("partner", "mcs", "admin")
    data: RegistrationCreate = request.context.json  # type: ignore[attr-defined]
    sess = db_session()
    try:
        decision = check_registration(sess, data, user=api_user())
    except SubmissionError as exc:
        return submission_error(exc)
    finally:
        sess.rollback()
    return {
        "outcome": str(decision.outcome),
        "summary": rules.describe(decision),
        "findings": decision_findings_json(decision, for_partner=api_user().role == "partner"),
        "list_version_id": decision.list_version_id,
        "policy_version_id": decision.policy_version_id,
    }


def init_app(app: Flask) -> None:
    """Attach nothing: the routes register on the shared API blueprint at import."""
