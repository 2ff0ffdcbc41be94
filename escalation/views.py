"""Reviewer queue, ticket pages and the dashboard."""

from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response as WerkzeugResponse
from wtforms.fields.choices import SelectChoice

from conflict.service import looking_in_on_partner
from escalation import dashboard as dash
from escalation import service
from escalation.forms import (
    RESOLUTION_LABELS,
    ActionForm,
    AssignForm,
    BulkForm,
    CommentForm,
    DecisionForm,
    EscalateForm,
    ReopenForm,
    choice_list,
    resolution_choices,
)
from escalation.queries import OWNER_CHOICES, QueueFilters, own_change_stamp, queue_page
from escalation.sla import escalation_stages, sla_state
from escalation.states import LEVEL_NAMES, InvalidDecision, InvalidTransition
from models import (
    ConflictFinding,
    NamedAccountList,
    Partner,
    PolicyVersion,
    Registration,
    Ticket,
    TicketEvent,
    User,
    utcnow,
)
from models.db import session as db_session
from models.ticket import TICKET_TYPES
from web.auth import role_required
from web.evidence import other_side_bodies, own_registration_ids, ticket_title_for

bp = Blueprint("escalation", __name__)

ALL_ROLES = ("partner", "mcs", "reviewer", "admin")


# --- queue -------------------------------------------------------------------------------


def _int_arg(name: str, allowed: range) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and int(value) in allowed else None


def _filters_from_args() -> QueueFilters:
    args = request.args
    ttype = args.get("type") or None
    status = args.get("status") or None
    owner = args.get("owner") or None
    return QueueFilters(
        type=ttype if ttype in TICKET_TYPES else None,
        rule=(args.get("rule") or "").strip()[:40] or None,
        district=(args.get("district") or "").strip()[:40] or None,
        level=_int_arg("level", range(1, 4)),
        status=status if status in service.OPEN_STATUSES else None,
        owner=owner if owner in OWNER_CHOICES else None,
        overdue=args.get("overdue") == "1",
        due_soon=args.get("due_soon") == "1",
        after=(args.get("after") or "")[:200] or None,
    )


def _assignees() -> list[User]:
    """Return every active reviewer: a batch of tickets has no single territory to filter by."""
    return list(
        db_session()
        .execute(
            sa.select(User)
            .where(User.role == "reviewer", User.is_active.is_(True))
            .order_by(User.level, User.name, User.email)
        )
        .scalars()
    )


def _assignee_choices(users: list[User], prompt: str | None = None) -> list[SelectChoice]:
    pairs: list[tuple[object, str]] = [(0, prompt)] if prompt else []
    pairs += [
        (u.id or 0, f"{u.display_name} — level {u.level} ({LEVEL_NAMES.get(u.level or 1, '')})")
        for u in users
    ]
    return choice_list(pairs)


@bp.route("/queue")
@role_required("reviewer", "admin")
def queue() -> Any:
    """List open tickets for the reviewer's districts, most urgent first."""
    filters = _filters_from_args()
    # The account itself, not the proxy: every read through current_user looks the user up
    # again, and the page checks a dozen of its attributes per ticket.
    user: User = current_user._get_current_object()
    # Counts cached before the user's own last change (a claim here, a decision on a ticket
    # page, in any worker) are read again, so the user never sees counts behind their work.
    page = queue_page(db_session(), user, filters, utcnow(), counts_not_before=own_change_stamp())
    form = BulkForm()
    form.assignee.choices = _assignee_choices(_assignees(), "Choose a reviewer")
    form.next.data = request.full_path.rstrip("?")
    next_url = (
        url_for("escalation.queue", **filters.query_args(after=page.next_cursor))
        if page.next_cursor
        else None
    )
    first_url = (
        url_for("escalation.queue", **filters.query_args(after=None)) if filters.after else None
    )
    return render_template(
        "escalation/queue.html",
        page=page,
        filters=filters,
        form=form,
        next_url=next_url,
        first_url=first_url,
        level_names=LEVEL_NAMES,
    )


def _safe_queue_url(target: str | None) -> str:
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path == url_for("escalation.queue"):
            return target
    return url_for("escalation.queue")


@bp.route("/queue", methods=["POST"])
@role_required("reviewer", "admin")
def queue_action() -> WerkzeugResponse:
    """Claim one ticket, or claim or assign the selected tickets."""
    sess = db_session()
    form = BulkForm()
    form.assignee.choices = _assignee_choices(_assignees(), "Choose a reviewer")
    back = _safe_queue_url(form.next.data)
    if not form.validate_on_submit():
        flash("The request could not be read; please try again.", "error")
        return redirect(back)
    single = (form.claim_id.data or "").strip()
    if single.isdigit():
        ids, action = [int(single)], "claim"
    else:
        ids, action = list(dict.fromkeys(form.ticket_ids.data or [])), form.action.data
    if not ids:
        flash("Select at least one ticket.", "error")
        return redirect(back)
    assignee = None
    if action == "assign":
        assignee = sess.get(User, form.assignee.data or 0)
        if assignee is None or assignee.role not in service.STAFF_ROLES:
            flash("Choose the reviewer to assign the tickets to.", "error")
            return redirect(back)
    done: list[int] = []
    skipped: list[int] = []
    uncovered: list[int] = []
    me: User = current_user._get_current_object()
    for ticket in sess.execute(
        sa.select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id)
    ).scalars():
        try:
            if assignee is not None:
                service.assign(sess, ticket, assignee=assignee, actor=me)
            else:
                service.claim(sess, ticket, me)
            done.append(ticket.id)
        except service.NotCovered:
            uncovered.append(ticket.id)
        except (service.TicketError, InvalidTransition):
            skipped.append(ticket.id)
    skipped += [i for i in ids if i not in done and i not in skipped and i not in uncovered]
    sess.commit()
    verb = "Claimed" if assignee is None else f"Assigned to {assignee.display_name}:"
    if done:
        flash(f"{verb} {len(done)} ticket(s) ({', '.join(f'#{i}' for i in done)}).", "success")
    if uncovered and assignee is not None:
        flash(
            f"Not assigned {len(uncovered)} ticket(s) outside the territory or above the level "
            f"of {assignee.display_name}: " + ", ".join(f"#{i}" for i in uncovered),
            "error",
        )
    if skipped:
        flash(
            f"Skipped {len(skipped)} ticket(s) you cannot take in their current state: "
            + ", ".join(f"#{i}" for i in sorted(skipped)),
            "error",
        )
    return redirect(back)


# --- ticket page -------------------------------------------------------------------------


def _deny(user: User) -> None:
    # Partners must not learn that a ticket exists; staff get an honest refusal.
    abort(404 if user.role == "partner" else 403)


def _visible_ticket(ticket_id: int) -> Ticket:
    ticket = db_session().get(Ticket, ticket_id)
    if ticket is None:
        abort(404)
    if not service.visible_to(current_user, ticket):
        abort(404 if current_user.role in ("partner", "mcs") else 403)
    return ticket


def _workable_ticket(ticket_id: int) -> Ticket:
    ticket = _visible_ticket(ticket_id)
    if not service.can_work(current_user, ticket):
        _deny(current_user)
    return ticket


def _assign_form(ticket: Ticket) -> AssignForm:
    """Return the assign form offering only the reviewers who could decide the ticket."""
    form = AssignForm()
    form.assignee.choices = _assignee_choices(service.assignable(db_session(), ticket))
    # Someone left off the list is refused with the reason, not "not a valid choice".
    form.assignee.validate_choice = False
    return form


def _sentence(text: str) -> str:
    """Return a service message as a sentence (capitalised, with a full stop)."""
    text = text.strip()
    return f"{text[:1].upper()}{text[1:]}" + ("" if text.endswith(".") else ".")


def _ticket_forms(ticket: Ticket) -> dict[str, Any]:
    decision = DecisionForm()
    decision.resolution.choices = resolution_choices(ticket.type, ticket.rule)
    assign = _assign_form(ticket)
    return {
        "claim_form": ActionForm(),
        "comment_form": CommentForm(),
        "decision_form": decision,
        "assign_form": assign,
        "escalate_form": EscalateForm(),
        "reopen_form": ReopenForm(),
    }


def _render_ticket(ticket: Ticket, status: int = 200, **overrides: Any) -> Any:
    sess = db_session()
    user: User = current_user
    staff = service.is_staff(user)
    reg = sess.get(Registration, ticket.registration_id)
    other = (
        sess.get(Registration, ticket.other_registration_id)
        if ticket.other_registration_id
        else None
    )
    partner = sess.get(Partner, ticket.partner_id) if ticket.partner_id else None
    other_partner = sess.get(Partner, ticket.other_partner_id) if ticket.other_partner_id else None
    view = _partner_view(ticket, user, reg, other)
    findings = list(
        sess.execute(
            sa.select(ConflictFinding)
            .where(ConflictFinding.ticket_id == ticket.id)
            .order_by(ConflictFinding.id)
        ).scalars()
    )
    list_ids = {f.list_version_id for f in findings if f.list_version_id}
    list_ids |= {ticket.list_version_id} if ticket.list_version_id else set()
    lists = (
        {
            row.id: row
            for row in sess.execute(
                sa.select(NamedAccountList).where(NamedAccountList.id.in_(list_ids))
            ).scalars()
        }
        if list_ids
        else {}
    )
    policy_ids = {f.policy_version_id for f in findings if f.policy_version_id}
    policy_ids |= {ticket.policy_version_id} if ticket.policy_version_id else set()
    policies: dict[int, int] = (
        dict(
            sess.execute(
                sa.select(PolicyVersion.id, PolicyVersion.version).where(
                    PolicyVersion.id.in_(policy_ids)
                )
            ).all()
        )
        if policy_ids
        else {}
    )
    events_q = sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    if not staff:
        events_q = events_q.where(TicketEvent.visibility == "public")
    events = list(sess.execute(events_q.order_by(TicketEvent.created_at, TicketEvent.id)).scalars())
    own_ids = view["own_ids"]
    bodies = (
        other_side_bodies(findings, own_ids, view["customer_name"]) if own_ids is not None else {}
    )
    messages = {f.id: bodies.get(f.message, f.message) for f in findings}
    people_ids = {e.actor_id for e in events if e.actor_id} | {
        i for i in (ticket.owner_id, ticket.decided_by_id) if i
    }
    people = (
        {u.id: u for u in sess.execute(sa.select(User).where(User.id.in_(people_ids))).scalars()}
        if people_ids
        else {}
    )

    env = service.sla_env(sess)
    now = utcnow()
    sla: dict[str, Any] = {"state": None, "stages": []}
    if ticket.sla_due_at is not None and ticket.status != "decided":
        cal = env.calendar(ticket.district)
        sla["state"] = sla_state(now, ticket.sla_due_at, env.sla, cal).value
        stages = [(ticket.level, ticket.sla_due_at)]
        if ticket.level < 3:
            # Later levels start when the current one runs out, as the sweep would move it.
            stages += escalation_stages(
                ticket.sla_due_at, ticket.level + 1, ticket.type, env.sla, cal
            )
        sla["stages"] = stages

    forms = _ticket_forms(ticket) | overrides
    workable = service.can_work(user, ticket)
    decidable = workable and service.can_decide(user, ticket)
    return (
        render_template(
            "escalation/ticket.html",
            ticket=ticket,
            reg=reg,
            other=other,
            parties=_parties(user, view["own_ids"], partner, other_partner),
            findings=findings,
            messages=messages,
            bodies=bodies,
            lists=lists,
            policies=policies,
            events=events,
            people=people,
            sla=sla,
            staff=staff,
            workable=workable,
            decidable=decidable,
            needed_cover=service.needed_cover(sess, ticket) if workable and not decidable else "",
            may_comment=service.visible_to(user, ticket),
            may_see_other=staff,
            # One rule for what MCS may read of a partner's deal, the registration page's.
            hides_terms=lambda r: looking_in_on_partner(user, r),
            **view,
            level_names=LEVEL_NAMES,
            resolution_labels=RESOLUTION_LABELS,
            **forms,
        ),
        status,
    )


def _partner_view(
    ticket: Ticket, user: User, reg: Registration | None, other: Registration | None
) -> dict[str, Any]:
    """Return which sides of a ticket the viewer reads in full, and the title they read.

    A partner reads only their own organisation's registrations; the other side is named by
    its kind alone ("Another partner", "MCS"). Staff and MCS see every side.
    """
    own_ids = own_registration_ids(ticket, user)
    sides = [r for r in (reg, other) if r is not None]
    own = [r for r in sides if own_ids is None or r.id in own_ids]
    customer_name = own[0].customer_name if own else ""
    return {
        "own_ids": own_ids,
        "display_title": ticket_title_for(ticket, own_ids, customer_name),
        "customer_name": customer_name,
        "reg_shown": reg is not None and (own_ids is None or reg.id in own_ids),
        "own_other": other if other is not None and own_ids and other.id in own_ids else None,
        "hidden_sides": [
            "mcs" if r.party == "mcs" else "partner"
            for r in sides
            if own_ids is not None and r.id not in own_ids
        ],
    }


def _parties(
    user: User, own_ids: frozenset[int] | None, partner: Partner | None, other: Partner | None
) -> list[tuple[str, Partner | None]]:
    """Return the partner rows of the Parties box; None stands for a partner left unnamed."""
    present = [p for p in (partner, other) if p is not None]
    if own_ids is None:
        return [("Partner" if p is partner else "Other partner", p) for p in present]
    # The reader's own organisation first, then the other side without its name or tier.
    mine: list[tuple[str, Partner | None]] = [
        ("Partner", p) for p in present if p.id == user.partner_id
    ]
    return mine + [("Other partner", None) for p in present if p.id != user.partner_id]


@bp.route("/tickets/<int:ticket_id>")
@role_required(*ALL_ROLES)
def ticket_detail(ticket_id: int) -> Any:
    """Show a ticket (404 for a partner who is not a party)."""
    return _render_ticket(_visible_ticket(ticket_id))


def _back(ticket: Ticket) -> WerkzeugResponse:
    return redirect(url_for("escalation.ticket_detail", ticket_id=ticket.id))


def _undecidable(ticket: Ticket) -> Any:
    """Refuse a decision to an owner who does not cover the ticket, saying who may."""
    flash(
        f"You may not decide ticket #{ticket.id}: it needs "
        f"{service.needed_cover(db_session(), ticket)}. Assign it to someone who covers it.",
        "error",
    )
    return _render_ticket(ticket, 403)


def _refused(ticket: Ticket, exc: Exception) -> WerkzeugResponse:
    db_session().rollback()
    flash(str(exc).capitalize() if str(exc) else "That is not possible now.", "error")
    return _back(ticket)


@bp.route("/tickets/<int:ticket_id>/claim", methods=["POST"])
@role_required("reviewer", "admin")
def claim_ticket(ticket_id: int) -> Any:
    """Claim a ticket for review."""
    ticket = _workable_ticket(ticket_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.claim(db_session(), ticket, current_user)
    except (service.TicketError, InvalidTransition) as exc:
        return _refused(ticket, exc)
    db_session().commit()
    flash(f"You claimed ticket #{ticket.id}.", "success")
    return _back(ticket)


@bp.route("/tickets/<int:ticket_id>/release", methods=["POST"])
@role_required("reviewer", "admin")
def release_ticket(ticket_id: int) -> Any:
    """Give a claimed ticket back to the queue."""
    ticket = _visible_ticket(ticket_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        service.unclaim(db_session(), ticket, current_user)
    except (service.TicketError, InvalidTransition) as exc:
        return _refused(ticket, exc)
    db_session().commit()
    flash(f"Ticket #{ticket.id} is back in the queue.", "success")
    return _back(ticket)


@bp.route("/tickets/<int:ticket_id>/assign", methods=["POST"])
@role_required("reviewer", "admin")
def assign_ticket(ticket_id: int) -> Any:
    """Assign a ticket to a reviewer."""
    ticket = _workable_ticket(ticket_id)
    form = _assign_form(ticket)
    if not form.validate_on_submit():
        return _render_ticket(ticket, 422, assign_form=form)
    assignee = db_session().get(User, form.assignee.data or 0)
    if assignee is None:
        form.assignee.errors = ["Choose who takes the ticket."]
        return _render_ticket(ticket, 422, assign_form=form)
    # Checked before anything is written, so a refusal leaves the ticket as it was.
    refusal = service.assign_refusal(db_session(), ticket, assignee)
    if refusal is not None:
        form.assignee.errors = [_sentence(refusal)]
        return _render_ticket(ticket, 422, assign_form=form)
    try:
        service.assign(db_session(), ticket, assignee=assignee, actor=current_user)
    except (service.TicketError, InvalidTransition) as exc:
        return _refused(ticket, exc)
    db_session().commit()
    flash(f"Ticket #{ticket.id} is assigned to {assignee.display_name}.", "success")
    return _back(ticket)


@bp.route("/tickets/<int:ticket_id>/comments", methods=["POST"])
@role_required(*ALL_ROLES)
def comment_ticket(ticket_id: int) -> Any:
    """Add a public comment or an internal note."""
    ticket = _visible_ticket(ticket_id)
    form = CommentForm()
    if not form.validate_on_submit():
        return _render_ticket(ticket, 422, comment_form=form)
    internal = bool(form.internal.data) and service.is_staff(current_user)
    try:
        service.comment(
            db_session(), ticket, author=current_user, body=form.body.data or "", internal=internal
        )
    except service.TicketError as exc:
        return _refused(ticket, exc)
    db_session().commit()
    flash("Internal note added." if internal else "Comment added.", "success")
    return _back(ticket)


@bp.route("/tickets/<int:ticket_id>/decision", methods=["POST"])
@role_required("reviewer", "admin")
def decide_ticket(ticket_id: int) -> Any:
    """Decide a ticket."""
    ticket = _workable_ticket(ticket_id)
    if not service.can_decide(current_user, ticket):
        return _undecidable(ticket)
    form = DecisionForm()
    form.resolution.choices = resolution_choices(ticket.type, ticket.rule)
    if ticket.status == "decided":
        flash("This ticket is already decided; reopen it to decide again.", "error")
        return _back(ticket)
    if not form.validate_on_submit():
        return _render_ticket(ticket, 422, decision_form=form)
    try:
        service.decide(
            db_session(),
            ticket,
            actor=current_user,
            resolution=form.resolution.data or "",
            rationale=form.rationale.data or "",
        )
    except InvalidDecision as exc:
        db_session().rollback()
        form.resolution.errors = [*form.resolution.errors, str(exc)]
        return _render_ticket(db_session().get(Ticket, ticket_id), 422, decision_form=form)
    except (service.TicketError, InvalidTransition) as exc:
        return _refused(ticket, exc)
    db_session().commit()
    flash(f"Ticket #{ticket.id} is decided.", "success")
    return _back(ticket)


@bp.route("/tickets/<int:ticket_id>/escalate", methods=["POST"])
@role_required("reviewer", "admin")
def escalate_ticket(ticket_id: int) -> Any:
    """Escalate a ticket one level."""
    ticket = _workable_ticket(ticket_id)
    form = EscalateForm()
    if not form.validate_on_submit():
        return _render_ticket(ticket, 422, escalate_form=form)
    try:
        service.escalate(db_session(), ticket, actor=current_user, reason=form.reason.data or "")
    except (service.TicketError, InvalidTransition) as exc:
        return _refused(ticket, exc)
    db_session().commit()
    flash(f"Ticket #{ticket.id} escalated to level {ticket.level}.", "success")
    return _back(ticket)


@bp.route("/tickets/<int:ticket_id>/reopen", methods=["POST"])
@role_required("reviewer", "admin")
def reopen_ticket(ticket_id: int) -> Any:
    """Reopen a decided ticket."""
    ticket = _workable_ticket(ticket_id)
    if not service.can_decide(current_user, ticket):
        return _undecidable(ticket)
    form = ReopenForm()
    if not form.validate_on_submit():
        return _render_ticket(ticket, 422, reopen_form=form)
    try:
        service.reopen(db_session(), ticket, actor=current_user, reason=form.reason.data or "")
    except (service.TicketError, InvalidTransition) as exc:
        return _refused(ticket, exc)
    db_session().commit()
    flash(f"Ticket #{ticket.id} is open again.", "success")
    return _back(ticket)


# --- dashboard ---------------------------------------------------------------------------


@bp.route("/dashboard")
@role_required("reviewer", "admin")
def dashboard() -> Any:
    """Show the program's conflict, SLA and registration figures."""
    weeks = _int_arg("weeks", range(1, 105)) or dash.DEFAULT_WEEKS
    charts = dash.build_charts(db_session(), utcnow(), weeks=weeks)
    return render_template("escalation/dashboard.html", charts=charts, weeks=weeks)


@bp.route("/dashboard.csv")
@role_required("reviewer", "admin")
def dashboard_csv() -> Response:
    """Download the numbers behind one dashboard chart as CSV."""
    key = request.args.get("chart", "")
    if key not in dash.CHART_KEYS:
        abort(404)
    weeks = _int_arg("weeks", range(1, 105)) or dash.DEFAULT_WEEKS
    chart = dash.build_chart(db_session(), utcnow(), key, weeks=weeks)
    return Response(
        dash.to_csv(chart),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="channelguard-{key}.csv"'},
    )


def init_app(app: Flask) -> None:
    """Register the reviewer pages."""
    app.register_blueprint(bp)
