"""Partner and MCS pages: the registration form, the list with CSV export, and one registration."""

import base64
import binascii
import csv
import io
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from conflict import rules
from conflict.forms import (
    HELP,
    MATURITY_HELP,
    STACK_LABELS,
    WORKLOAD_LABELS,
    ExtensionForm,
    OverrideForm,
    ReasonForm,
    RegistrationFilterForm,
    RegistrationForm,
    WithdrawForm,
    new_nonce,
)
from conflict.schemas import RegistrationCreate, field_message, validate_dry_run
from conflict.service import (
    SubmissionError,
    check_registration,
    find_by_idempotency_key,
    looking_in_on_partner,
    request_extension,
    request_override,
    submit_registration,
    withdraw_registration,
)
from conflict.types import METHOD_WORDS, RULE_TITLES, Decision, Severity
from escalation.queries import visible_clause
from escalation.service import visible_to
from models import (
    ConflictFinding,
    District,
    Partner,
    Registration,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)
from models.db import session as db_session
from web.auth import role_required
from web.evidence import other_side_bodies
from web.security import limiter

bp = Blueprint("conflict", __name__)

PAGE_SIZE = 50
STAFF_ROLES = frozenset({"reviewer", "admin"})
OUTCOME_WORDS: dict[str, str] = {
    # Shown after the status badge, so none of them repeats the status itself.
    "submitted": "Received; the decision is pending.",
    "approved": "The registration is yours until it expires.",
    "in_conflict": (
        "A channel manager decides who leads. Each finding below says why; the ticket's "
        "timeline shows the progress."
    ),
    "in_exception_review": ("Reviewers decide whether the direct arm may engage as an exception."),
    "rejected": "This registration does not go ahead.",
    "expired": "The registration's lifetime ran out.",
    "withdrawn": "It was taken back.",
}
# Spreadsheets run cells that start with these as formulas.
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = (
    "id",
    "status",
    "party",
    "partner",
    "customer_name",
    "customer_domain",
    "district",
    "country",
    "pc_count",
    "workloads",
    "solution_stack",
    "dotnet_early_adoption",
    "estimated_value",
    "expected_close_date",
    "infrastructure_maturity",
    "submitted_at",
    "expires_at",
    "notes",
)


class BadCursor(ValueError):
    """A pagination cursor that was not made by this app."""


# Who may see what -----------------------------------------------------------------------------


def registration_scope(user: User) -> Any:
    """Return a select of the registrations a user's organisation may list."""
    query = sa.select(Registration)
    if user.role == "partner":
        query = query.where(Registration.partner_id == user.partner_id)
    elif user.role == "mcs":
        query = query.where(Registration.party == "mcs")
    elif user.role == "reviewer":
        territory = reviewer_territory(user)
        if territory is not None:
            query = query.where(territory)
    elif user.role != "admin":
        query = query.where(sa.false())
    return query


def reviewer_territory(user: User) -> Any:
    """Return a WHERE clause of the registrations a reviewer's territory holds (None: all).

    A registration is in it when it was made in one of the reviewer's places, or when a ticket
    the reviewer may see names it: a named account's ticket goes to the account's district,
    which need not be the one the partner typed.
    """
    if (user.level or 1) >= 3:
        return None
    places: list[Any] = []
    districts = [str(d) for d in user.districts or []]
    if districts:
        places.append(Registration.district.in_(districts))
    if (user.level or 1) == 2 and user.region:
        in_region = sa.select(District.code).where(District.region == user.region)
        places.append(Registration.district.in_(in_region))
    named_by_ticket = (
        sa.select(Ticket.id)
        .where(
            sa.or_(
                Ticket.registration_id == Registration.id,
                Ticket.other_registration_id == Registration.id,
            ),
            visible_clause(db_session(), user),
        )
        .exists()
    )
    return sa.or_(*places, named_by_ticket)


def scoped_registrations() -> Any:
    """Return a select of the registrations the current user may see."""
    return registration_scope(current_user)


def may_see_registration(sess: Session, reg: Registration, user: User) -> bool:
    """Return True when a user may open a registration (partners: their own organisation only)."""
    if user.role == "admin":
        return True
    if user.role == "reviewer":
        territory = reviewer_territory(user)
        if territory is None:
            return True
        found = sess.execute(
            sa.select(Registration.id).where(Registration.id == reg.id, territory)
        ).first()
        return found is not None
    if user.role == "partner":
        return reg.partner_id is not None and reg.partner_id == user.partner_id
    if user.role == "mcs":
        if reg.party == "mcs":
            return True
        # A partner registration in a conflict this MCS seller is a party to.
        tickets = sess.execute(
            sa.select(Ticket).where(
                sa.or_(Ticket.registration_id == reg.id, Ticket.other_registration_id == reg.id)
            )
        ).scalars()
        return any(visible_to(user, t) for t in tickets)
    return False


def may_change_registration(reg: Registration, user: User) -> bool:
    """Return True when a user acts for the organisation that registered (withdraw, extend)."""
    if user.role == "admin":
        return True
    if user.role == "partner":
        return reg.partner_id is not None and reg.partner_id == user.partner_id
    return user.role == "mcs" and reg.party == "mcs" and reg.submitted_by_id == user.id


def visible_registration_or_404(reg_id: int, user: User) -> Registration:
    """Load a registration the user may see, or answer 404 (never 403, so ids do not leak)."""
    sess = db_session()
    reg = sess.get(Registration, reg_id)
    if reg is None or not may_see_registration(sess, reg, user):
        abort(404)
    return reg


# Filters and keyset pagination ----------------------------------------------------------------


def encode_cursor(submitted_at: datetime, reg_id: int) -> str:
    """Return an opaque cursor for the row after which the next page starts."""
    raw = f"{submitted_at.astimezone(UTC).isoformat()}|{reg_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Return (submitted_at, id) from a cursor, raising BadCursor when it is not ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, _, rid = base64.urlsafe_b64decode(padded.encode()).decode().partition("|")
        when = datetime.fromisoformat(stamp)
        # Ids are 32-bit integers; anything longer is not a cursor this app wrote.
        if when.tzinfo is None or not rid.isdigit() or len(rid) > 10 or int(rid) > 2**31 - 1:
            raise ValueError(cursor)
        return when, int(rid)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadCursor("The cursor is not valid; start again from the first page.") from exc


def filter_registrations(
    query: Any,
    *,
    status: str | None = None,
    customer: str | None = None,
    submitted_from: date | None = None,
    submitted_to: date | None = None,
) -> Any:
    """Narrow a registration select by status, customer substring and submission dates."""
    if status:
        query = query.where(Registration.status == status)
    if customer and customer.strip():
        needle = customer.strip().lower()
        query = query.where(
            sa.func.lower(Registration.customer_name).contains(needle, autoescape=True)
        )
    if submitted_from:
        start = datetime.combine(submitted_from, time.min, tzinfo=UTC)
        query = query.where(Registration.submitted_at >= start)
    if submitted_to:
        end = datetime.combine(submitted_to + timedelta(days=1), time.min, tzinfo=UTC)
        query = query.where(Registration.submitted_at < end)
    return query


def page_of(query: Any, cursor: str | None, limit: int) -> tuple[list[Registration], str | None]:
    """Return one page, newest first, and the cursor of the next page (None on the last)."""
    order = (Registration.submitted_at.desc(), Registration.id.desc())
    if cursor:
        when, rid = decode_cursor(cursor)
        query = query.where(
            sa.or_(
                Registration.submitted_at < when,
                sa.and_(Registration.submitted_at == when, Registration.id < rid),
            )
        )
    rows = list(db_session().execute(query.order_by(*order).limit(limit + 1)).scalars())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(last.submitted_at, last.id or 0)


def _filters_from(form: RegistrationFilterForm) -> dict[str, Any]:
    if not form.validate():
        return {}
    return {
        "status": form.status.data or None,
        "customer": form.customer.data or None,
        "submitted_from": form.submitted_from.data,
        "submitted_to": form.submitted_to.data,
    }


def _filter_args() -> dict[str, str]:
    keys = ("status", "customer", "submitted_from", "submitted_to")
    return {k: v for k in keys if (v := request.args.get(k, "").strip())}


# The list and its CSV export ------------------------------------------------------------------


@bp.route("/registrations")
@role_required("partner", "mcs", "admin")
def registrations() -> Any:
    """List the registrations the user's organisation may see, newest first, with filters."""
    form = RegistrationFilterForm(request.args)
    filters = _filters_from(form)
    query = filter_registrations(scoped_registrations(), **filters)
    if form.errors:
        # Unfiltered rows under a filter the reader believes applied would mislead: show none
        # until the filter reads right (the CSV export refuses in the same case).
        query = query.where(sa.false())
    cursor = request.args.get("cursor") or None
    try:
        rows, next_cursor = page_of(query, cursor, PAGE_SIZE)
    except BadCursor as exc:
        abort(400, str(exc))
    args = _filter_args()
    partners = _partner_names({r.partner_id for r in rows if r.partner_id})
    return render_template(
        "conflict/registrations.html",
        registrations=rows,
        form=form,
        partners=partners,
        next_url=url_for(".registrations", **args, cursor=next_cursor) if next_cursor else None,
        first_url=url_for(".registrations", **args) if cursor else None,
        csv_url=url_for(".registrations_csv", **args),
    )


def _partner_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db_session().execute(sa.select(Partner.id, Partner.name).where(Partner.id.in_(ids)))
    return {pid: name for pid, name in rows.all()}


def csv_safe(value: object) -> str:
    """Render a cell so a spreadsheet shows it as text, never runs it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        value = ";".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(CSV_FORMULA_START) else text


def _csv_row(reg: Registration, partner: str | None) -> list[str]:
    values: dict[str, object] = {
        "id": reg.id,
        "status": reg.status,
        "party": reg.party,
        "partner": partner,
        "customer_name": reg.customer_name,
        "customer_domain": reg.customer_domain,
        "district": reg.district,
        "country": reg.country,
        "pc_count": reg.pc_count,
        "workloads": list(reg.workloads or []),
        "solution_stack": reg.solution_stack,
        "dotnet_early_adoption": reg.dotnet_early_adoption,
        "estimated_value": reg.estimated_value,
        "expected_close_date": reg.expected_close_date,
        "infrastructure_maturity": reg.infrastructure_maturity,
        "submitted_at": reg.submitted_at,
        "expires_at": reg.expires_at,
        "notes": reg.notes,
    }
    return [csv_safe(values[c]) for c in CSV_COLUMNS]


@bp.route("/registrations.csv")
@role_required("partner", "mcs", "admin")
def registrations_csv() -> Any:
    """Download the filtered registrations as CSV (every page, same scope as the list)."""
    form = RegistrationFilterForm(request.args)
    filters = _filters_from(form)
    if form.errors:
        # A download would silently hold every registration instead of the filtered ones.
        problems = "; ".join(
            f"{form[name].label.text}: {' '.join(errors)}" for name, errors in form.errors.items()
        )
        abort(400, f"The filters could not be used ({problems}). Nothing was exported.")
    query = (
        filter_registrations(scoped_registrations(), **filters)
        .add_columns(Partner.name)
        .outerjoin(Partner, Partner.id == Registration.partner_id)
        .order_by(Registration.submitted_at.desc(), Registration.id.desc())
        .execution_options(yield_per=500)
    )

    def generate() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        for reg, partner in db_session().execute(query):
            writer.writerow(_csv_row(reg, partner))
            if buf.tell() > 64_000:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
        yield buf.getvalue()

    stamp = utcnow().strftime("%Y%m%d-%H%M")
    return Response(
        stream_with_context(generate()),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="registrations-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


# The registration form ------------------------------------------------------------------------


def district_choices() -> list[tuple[str, str]]:
    """Return the districts as (code, label) choices, by name."""
    rows = db_session().execute(sa.select(District.code, District.name).order_by(District.name))
    return [(code, f"{name} ({code})") for code, name in rows.all()]


def _form_page(form: RegistrationForm, status: int = 200) -> Any:
    body = render_template(
        "conflict/new_registration.html",
        form=form,
        help=HELP,
        maturity_help=MATURITY_HELP,
        party_label="MCS engagement" if current_user.role in ("mcs", "admin") else "Partner deal",
    )
    # A page restored from the browser cache would carry a nonce that was already used.
    return body, status, {"Cache-Control": "no-store"}


def _same_input(reg: Registration, data: RegistrationCreate) -> bool:
    return (
        reg.customer_name == data.customer_name
        and (reg.customer_domain or None) == data.customer_domain
        and sorted(reg.workloads or []) == sorted(data.workloads)
        and reg.pc_count == data.pc_count
    )


@bp.route("/registrations/new", methods=["GET", "POST"])
@role_required("partner", "mcs", "admin")
def new_registration() -> Any:
    """Show the registration form and submit it once, however often it is posted."""
    form = RegistrationForm()
    form.set_districts(district_choices())
    if request.method == "GET":
        form.nonce.data = new_nonce()
        return _form_page(form)
    if not form.validate():
        if form.nonce.errors:
            form.nonce.data = new_nonce()
            form.form_errors.extend(form.nonce.errors)
        return _form_page(form, 422)
    data = form.to_input()
    if data is None:
        return _form_page(form, 422)
    sess = db_session()
    user: User = current_user._get_current_object()
    nonce = form.nonce.data or ""
    try:
        result = submit_registration(sess, data, user=user, idempotency_key=nonce)
        sess.commit()
    except SubmissionError as exc:
        sess.rollback()
        form.add_error(exc.field, exc.message)
        return _form_page(form, 422)
    except IntegrityError:
        # Another request with the same nonce committed first: show what it created.
        sess.rollback()
        earlier = find_by_idempotency_key(sess, user, nonce)
        if earlier is None:
            raise
        return redirect(url_for(".registration_detail", reg_id=earlier.id), 303)
    reg = result.registration
    if result.created:
        flash(f"Registration {reg.id} for {reg.customer_name} was submitted.", "success")
    elif not _same_input(reg, data):
        flash(
            "This form had already been submitted; this is the registration it created. "
            "Open a new form to register another deal.",
            "info",
        )
    return redirect(url_for(".registration_detail", reg_id=reg.id), 303)


def _precheck_key() -> str:
    uid = getattr(current_user, "id", None)
    return f"precheck:user:{uid}" if uid else f"precheck:ip:{request.remote_addr or '?'}"


def verdict(decision: Decision) -> dict[str, Any]:
    """Summarise a dry-run decision in one short line for the live pre-check."""
    by_rule = {f.rule: f for f in decision.findings}
    named = by_rule.get(rules.NAMED_ACCOUNT)
    if named is not None:
        text, level = f"Reserved for MCS — named account {named.account_name}", "conflict"
    elif rules.PARTNER_OVERLAP in by_rule or rules.MCS_OVERLAP in by_rule:
        # Not "another partner" or "MCS": a dry run tells a partner nothing of the other claim.
        text, level = "Another registration on this customer may conflict", "conflict"
    elif decision.outcome == "rejected":
        reason = next(
            (f.message for f in decision.findings if f.severity == Severity.BLOCK), "Rejected"
        )
        text, level = f"Would be rejected — {reason}", "conflict"
    elif decision.outcome == "in_exception_review":
        text, level = "Would go to exception review", "warning"
    elif decision.findings and any(f.severity != Severity.INFO for f in decision.findings):
        text, level = "Needs review", "warning"
    else:
        text, level = "No conflict", "ok"
    return {
        "verdict": text,
        "level": level,
        "outcome": str(decision.outcome),
        "details": [f.message for f in decision.findings],
    }


@bp.route("/registrations/precheck", methods=["POST"])
@role_required("partner", "mcs", "admin")
@limiter.limit("120 per minute", key_func=_precheck_key)
def precheck() -> Any:
    """Answer the form's live pre-check: what would the rules say now (stores nothing)."""
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify({"verdict": "Send the form fields as JSON.", "level": "idle"}), 400
    name = str(payload.get("customer_name") or "").strip()
    if len(name) < 2:
        return jsonify(
            {"verdict": "Type the customer's name to check it for conflicts.", "level": "idle"}
        )
    raw_workloads = payload.get("workloads")
    workloads = (
        [w for w in raw_workloads if isinstance(w, str)] if isinstance(raw_workloads, list) else []
    )

    def text(key: str) -> str | None:
        return str(payload.get(key) or "").strip() or None

    # Every field a rule reads, as the form submits it, so the verdict is the submission's.
    data: dict[str, Any] = {
        "customer_name": name,
        "customer_domain": text("customer_domain"),
        "district": text("district"),
        "workloads": workloads,
        "pc_count": text("pc_count"),
        "solution_stack": text("solution_stack"),
        "dotnet_early_adoption": payload.get("dotnet_early_adoption") in (True, "y", "true", "on"),
        "estimated_value": text("estimated_value"),
    }
    try:
        parsed = validate_dry_run(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        message = field_message(str(err.get("msg", "")))
        field = str(err["loc"][0]) if err.get("loc") else "body"
        label = field.replace("_", " ")
        return jsonify({"verdict": f"Check the {label}: {message}", "level": "idle"})
    sess = db_session()
    try:
        decision = check_registration(sess, parsed, user=current_user._get_current_object())
    except SubmissionError as exc:
        return jsonify({"verdict": exc.message, "level": "idle"})
    finally:
        sess.rollback()
    return jsonify(verdict(decision))


# One registration -----------------------------------------------------------------------------


def _tickets_of(sess: Session, reg: Registration) -> list[Ticket]:
    return list(
        sess.execute(
            sa.select(Ticket)
            .where(sa.or_(Ticket.registration_id == reg.id, Ticket.other_registration_id == reg.id))
            .order_by(Ticket.id)
        ).scalars()
    )


def _timelines(sess: Session, tickets: list[Ticket], public_only: bool) -> dict[int, list[Any]]:
    ids = [t.id for t in tickets]
    if not ids:
        return {}
    query = sa.select(TicketEvent).where(TicketEvent.ticket_id.in_(ids))
    if public_only:
        query = query.where(TicketEvent.visibility == "public")
    events: dict[int, list[Any]] = {tid: [] for tid in ids if tid is not None}
    for ev in sess.execute(query.order_by(TicketEvent.created_at, TicketEvent.id)).scalars():
        events[ev.ticket_id].append(ev)
    return events


def _acts_for(reg: Registration, user: User) -> bool:
    """Return True when the user is staff or belongs to the organisation that registered."""
    if user.role in STAFF_ROLES:
        return True
    if user.role == "partner":
        return reg.partner_id is not None and reg.partner_id == user.partner_id
    return user.role == "mcs" and reg.party == "mcs"


def _other_side_bodies(
    sess: Session, reg: Registration, user: User, other_tickets: list[Ticket]
) -> dict[str, str]:
    """Return the opening sentences a partner reads, told from this registration's side."""
    if user.role != "partner" or not other_tickets:
        return {}
    findings = sess.execute(
        sa.select(ConflictFinding).where(
            ConflictFinding.ticket_id.in_([t.id for t in other_tickets])
        )
    ).scalars()
    return other_side_bodies(findings, frozenset({reg.id or 0}), reg.customer_name)


def _staff_extras(sess: Session, reg: Registration, user: User) -> dict[str, Any]:
    from conflict import dpor

    extras: dict[str, Any] = {"dpor_form": None, "credit_form": None}
    if reg.party == "partner":
        own = user.partner_id if user.role == "partner" else None
        extras["designations"] = dpor.active_designations(sess, reg.customer_key, partner_id=own)
    else:
        extras["designations"] = []
    if user.role in STAFF_ROLES and reg.party == "partner" and reg.partner_id:
        from conflict.dpor_views import registration_forms

        dpor_form, credit_form = registration_forms(reg)
        extras.update(dpor_form=dpor_form, credit_form=credit_form)
    return extras


@bp.route("/registrations/<int:reg_id>")
@role_required("partner", "mcs", "reviewer", "admin")
def registration_detail(reg_id: int) -> Any:
    """Show one registration with its decision, findings and tickets (404 for others')."""
    user: User = current_user._get_current_object()
    reg = visible_registration_or_404(reg_id, user)
    return _detail_page(reg, user)


def _detail_page(
    reg: Registration,
    user: User,
    *,
    withdraw_form: WithdrawForm | None = None,
    extension_form: ExtensionForm | None = None,
    override_form: OverrideForm | None = None,
    action_errors: list[str] | None = None,
    status: int = 200,
) -> Any:
    sess = db_session()
    findings = list(
        sess.execute(
            sa.select(ConflictFinding)
            .where(ConflictFinding.registration_id == reg.id)
            .order_by(ConflictFinding.id)
        ).scalars()
    )
    # Only the tickets the viewer may open, as the ticket page decides it.
    tickets = [t for t in _tickets_of(sess, reg) if visible_to(user, t)]
    if not _acts_for(reg, user):
        # Someone looking in from a conflict (MCS on a partner's deal) reads only the findings
        # of the tickets they may open, not those between this partner and another.
        shown = {t.id for t in tickets}
        findings = [f for f in findings if f.ticket_id in shown]
    own_tickets = [t for t in tickets if t.registration_id == reg.id]
    other_tickets = [t for t in tickets if t.registration_id != reg.id]
    public_only = user.role not in STAFF_ROLES
    can_change = may_change_registration(reg, user)
    now = utcnow()
    can_extend = (
        can_change
        and reg.status == "approved"
        and reg.expires_at is not None
        and reg.expires_at > now
        and reg.extension_requested_at is None
    )
    can_override = (
        can_change
        and reg.party == "mcs"
        and reg.status == "rejected"
        and any(f.rule == rules.NO_BID_DOTNET and f.active for f in findings)
    )
    district = sess.get(District, reg.district) if reg.district else None
    partner = sess.get(Partner, reg.partner_id) if reg.partner_id else None
    return (
        render_template(
            "conflict/registration_detail.html",
            reg=reg,
            partner=partner,
            district=district,
            findings=findings,
            own_tickets=own_tickets,
            other_tickets=other_tickets,
            timelines=_timelines(sess, tickets, public_only),
            bodies=_other_side_bodies(sess, reg, user, other_tickets),
            public_only=public_only,
            outcome_words=OUTCOME_WORDS,
            looking_in=looking_in_on_partner(user, reg),
            rule_titles=RULE_TITLES,
            method_words=METHOD_WORDS,
            workload_labels=WORKLOAD_LABELS,
            stack_labels=STACK_LABELS,
            can_withdraw=can_change and reg.is_open,
            can_extend=can_extend,
            action_errors=action_errors or [],
            withdraw_form=withdraw_form or WithdrawForm(prefix="withdraw"),
            extension_form=extension_form or ExtensionForm(prefix="extend"),
            can_override=can_override,
            override_form=override_form or OverrideForm(prefix="override"),
            rejection_reasons=[
                f.message for f in findings if f.severity == str(Severity.BLOCK) and f.active
            ],
            **_staff_extras(sess, reg, user),
        ),
        status,
    )


ReasonAction = Callable[[Session, Registration, User, str], str]


def _reason_action(reg_id: int, form: ReasonForm, form_arg: str, act: ReasonAction) -> Any:
    """Run a reasoned change on a registration; errors go back beside the reason field."""
    user: User = current_user._get_current_object()
    reg = visible_registration_or_404(reg_id, user)
    if not may_change_registration(reg, user):
        abort(404 if user.role == "partner" else 403)
    if not form.validate():
        return _detail_page(reg, user, status=422, **{form_arg: form})
    sess = db_session()
    try:
        message = act(sess, reg, user, form.reason.data or "")
        sess.commit()
    except SubmissionError as exc:
        sess.rollback()
        if exc.field == "reason":
            form.reason.errors = [exc.message]
            return _detail_page(reg, user, status=422, **{form_arg: form})
        return _detail_page(reg, user, action_errors=[exc.message], status=422)
    flash(message, "success")
    return redirect(url_for(".registration_detail", reg_id=reg_id), 303)


def _withdraw(sess: Session, reg: Registration, user: User, reason: str) -> str:
    withdraw_registration(sess, reg, user=user, reason=reason)
    return "The registration was withdrawn."


def _extend(sess: Session, reg: Registration, user: User, reason: str) -> str:
    request_extension(sess, reg, user=user, reason=reason)
    expires = reg.expires_at.strftime("%Y-%m-%d") if reg.expires_at else "later"
    return f"The extension was recorded; the registration now expires on {expires}."


def _override(sess: Session, reg: Registration, user: User, reason: str) -> str:
    ticket = request_override(sess, reg, user=user, reason=reason)
    return f"Override requested: ticket {ticket.id} goes to exception review."


@bp.route("/registrations/<int:reg_id>/withdraw", methods=["POST"])
@role_required("partner", "mcs", "admin")
def withdraw(reg_id: int) -> Any:
    """Withdraw an open registration with a reason."""
    return _reason_action(reg_id, WithdrawForm(prefix="withdraw"), "withdraw_form", _withdraw)


@bp.route("/registrations/<int:reg_id>/extension", methods=["POST"])
@role_required("partner", "mcs", "admin")
def extension(reg_id: int) -> Any:
    """Ask, once and before expiry, for more time on an approved registration."""
    return _reason_action(reg_id, ExtensionForm(prefix="extend"), "extension_form", _extend)


@bp.route("/registrations/<int:reg_id>/override", methods=["POST"])
@role_required("mcs", "admin")
def override(reg_id: int) -> Any:
    """Ask for the level-3 exception that alone can lift a no-bid block."""
    return _reason_action(reg_id, OverrideForm(prefix="override"), "override_form", _override)


def init_app(app: Flask) -> None:
    """Register the partner pages, the DPOR and seat-credit pages, and the profile page."""
    from conflict import dpor_views
    from web import profile

    app.register_blueprint(bp)
    dpor_views.init_app(app)
    profile.init_app(app)
