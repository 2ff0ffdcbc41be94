"""Pages for several partners on one customer: partner of record, seat credits, partner totals."""

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from wtforms.fields.choices import SelectChoice

from conflict import dpor
from conflict.forms import (
    EVIDENCE_LABELS,
    WORKLOAD_LABELS,
    DporForm,
    SeatCreditForm,
    choice_list,
)
from conflict.views import reviewer_territory, visible_registration_or_404
from models import DporDesignation, Partner, Registration, User
from models.db import session as db_session
from web.auth import ensure_partner_may_see, role_required

bp = Blueprint("dpor", __name__)

STAFF = ("admin", "reviewer")


def _partner_choices() -> list[SelectChoice]:
    rows = db_session().execute(
        sa.select(Partner.id, Partner.name).where(Partner.active.is_(True)).order_by(Partner.name)
    )
    return choice_list(rows.all())


def registration_forms(reg: Registration) -> tuple[DporForm, SeatCreditForm]:
    """Return the partner-of-record and seat-credit forms for a partner registration."""
    partner = db_session().get(Partner, reg.partner_id) if reg.partner_id else None
    choice = choice_list([(reg.partner_id or 0, partner.name if partner else "")])
    workloads = choice_list((w, WORKLOAD_LABELS.get(w, w)) for w in reg.workloads or [])
    # The customer is the registration's; the forms on its page do not ask for it.
    dpor_form = DporForm(prefix="dpor", customer_name=reg.customer_name)
    dpor_form.partner_id.choices = choice
    dpor_form.workload.choices = workloads
    credit_form = SeatCreditForm(prefix="credit", customer_name=reg.customer_name)
    credit_form.partner_id.choices = choice
    credit_form.workload.choices = workloads
    return dpor_form, credit_form


def _flash_errors(*forms: Any) -> None:
    for form in forms:
        for field in form:
            for message in field.errors:
                flash(f"{field.label.text}: {message}", "error")


def _partner_registration_or_404(reg_id: int) -> Registration:
    # A reviewer records designations only on registrations of their own territory.
    reg = visible_registration_or_404(reg_id, current_user._get_current_object())
    if reg.party != "partner" or reg.partner_id is None:
        abort(404)
    return reg


@bp.route("/registrations/<int:reg_id>/dpor", methods=["POST"])
@role_required(*STAFF)
def designate_for_registration(reg_id: int) -> Any:
    """Record the registering partner as the customer's partner of record for a workload."""
    reg = _partner_registration_or_404(reg_id)
    form, _ = registration_forms(reg)
    back = redirect(url_for("conflict.registration_detail", reg_id=reg_id), 303)
    if not form.validate():
        _flash_errors(form)
        return back
    sess = db_session()
    user: User = current_user._get_current_object()
    try:
        dpor.designate_dpor(
            sess,
            user=user,
            partner_id=reg.partner_id or 0,
            workload=form.workload.data or "",
            registration=reg,
        )
        sess.commit()
    except dpor.DporError as exc:
        sess.rollback()
        flash(exc.message, "error")
        return back
    except IntegrityError:
        sess.rollback()
        flash("Someone recorded a partner of record at the same moment; check and retry.", "error")
        return back
    label = WORKLOAD_LABELS.get(form.workload.data or "", form.workload.data)
    flash(f"Partner of record for {label} recorded.", "success")
    return back


@bp.route("/registrations/<int:reg_id>/seat-credits", methods=["POST"])
@role_required(*STAFF)
def credit_for_registration(reg_id: int) -> Any:
    """Credit seats on this registration's customer to the registering partner."""
    reg = _partner_registration_or_404(reg_id)
    _, form = registration_forms(reg)
    back = redirect(url_for("conflict.registration_detail", reg_id=reg_id), 303)
    if not form.validate():
        _flash_errors(form)
        return back
    sess = db_session()
    try:
        dpor.record_seat_credit(
            sess,
            user=current_user._get_current_object(),
            partner_id=reg.partner_id or 0,
            customer_name=reg.customer_name,
            workload=form.workload.data or "",
            seats=form.seats.data or 0,
            source=form.source.data or "",
            evidence_ref=form.evidence_ref.data or "",
            competency=form.competency.data or None,
        )
        sess.commit()
    except dpor.DporError as exc:
        sess.rollback()
        flash(exc.message, "error")
        return back
    flash(f"{form.seats.data} seat(s) credited.", "success")
    return back


def _customer_forms(name: str) -> tuple[DporForm, SeatCreditForm]:
    partners = _partner_choices()
    dpor_form = DporForm(prefix="dpor", customer_name=name)
    dpor_form.partner_id.choices = partners
    credit_form = SeatCreditForm(prefix="credit", customer_name=name)
    credit_form.partner_id.choices = partners
    return dpor_form, credit_form


def _in_reach(sess: Any, key: str, user: User) -> bool:
    """Return True when the user may work this customer (a district reviewer: in territory)."""
    territory = reviewer_territory(user) if user.role == "reviewer" else None
    if territory is None:
        return True
    found = sess.execute(
        sa.select(Registration.id).where(Registration.customer_key == key, territory).limit(1)
    ).first()
    return found is not None


def _customer_key_in_reach_or_404(name: str) -> None:
    key = dpor.customer_key_for(name) if len(name.strip()) >= 2 else None
    if key and not _in_reach(db_session(), key, current_user._get_current_object()):
        abort(404)


def _customer_page(
    name: str, dpor_form: DporForm, credit_form: SeatCreditForm, status: int = 200
) -> Any:
    sess = db_session()
    user: User = current_user._get_current_object()
    key = dpor.customer_key_for(name) if len(name.strip()) >= 2 else None
    registrations: list[Registration] = []
    history: list[Any] = []
    credits: list[Any] = []
    out_of_reach = bool(key) and not _in_reach(sess, key or "", user)
    if key and not out_of_reach:
        territory = reviewer_territory(user) if user.role == "reviewer" else None
        query = sa.select(Registration).where(Registration.customer_key == key)
        if territory is not None:
            query = query.where(territory)
        registrations = list(
            sess.execute(
                query.order_by(Registration.submitted_at.desc(), Registration.id.desc()).limit(200)
            ).scalars()
        )
        history = dpor.designation_history(sess, key)
        credits = dpor.customer_credits(sess, key)
    partner_ids = {r.partner_id for r in registrations} | {d.partner_id for d in history}
    partner_ids |= {c.partner_id for c in credits}
    names: dict[int, str] = dict(
        sess.execute(
            sa.select(Partner.id, Partner.name).where(Partner.id.in_(partner_ids or {0}))
        ).all()
    )
    body = render_template(
        "conflict/customer.html",
        name=name,
        registrations=registrations,
        active=[d for d in history if d.active],
        history=history,
        credits=credits,
        partner_names=names,
        dpor_form=dpor_form,
        credit_form=credit_form,
        out_of_reach=out_of_reach,
        workload_labels=WORKLOAD_LABELS,
        evidence_labels=EVIDENCE_LABELS,
    )
    return body, status


@bp.route("/customers")
@role_required(*STAFF)
def customer() -> Any:
    """Show every partner on one customer: registrations, partner of record and seat credits."""
    name = (request.args.get("name") or "").strip()[:300]
    dpor_form, credit_form = _customer_forms(name)
    return _customer_page(name, dpor_form, credit_form)


@bp.route("/customers/dpor", methods=["POST"])
@role_required(*STAFF)
def designate_for_customer() -> Any:
    """Record a customer's partner of record for a workload from the customer page."""
    name = (request.form.get("dpor-customer_name") or "").strip()[:300]
    _customer_key_in_reach_or_404(name)
    dpor_form, credit_form = _customer_forms(name)
    if not dpor_form.validate():
        return _customer_page(name, dpor_form, credit_form, 422)
    sess = db_session()
    try:
        dpor.designate_dpor(
            sess,
            user=current_user._get_current_object(),
            partner_id=dpor_form.partner_id.data or 0,
            workload=dpor_form.workload.data or "",
            customer_name=name,
        )
        sess.commit()
    except dpor.DporError as exc:
        sess.rollback()
        target = getattr(dpor_form, exc.field or "", None)
        (target.errors if target is not None else dpor_form.form_errors).append(exc.message)
        return _customer_page(name, dpor_form, credit_form, 422)
    except IntegrityError:
        sess.rollback()
        dpor_form.form_errors.append("Someone recorded a partner of record at the same moment.")
        return _customer_page(name, dpor_form, credit_form, 409)
    flash("Partner of record recorded.", "success")
    return redirect(url_for(".customer", name=name), 303)


@bp.route("/customers/seat-credits", methods=["POST"])
@role_required(*STAFF)
def credit_for_customer() -> Any:
    """Credit seats on a customer's workload to a partner, from the customer page."""
    name = (request.form.get("credit-customer_name") or "").strip()[:300]
    _customer_key_in_reach_or_404(name)
    dpor_form, credit_form = _customer_forms(name)
    if not credit_form.validate():
        return _customer_page(name, dpor_form, credit_form, 422)
    sess = db_session()
    try:
        dpor.record_seat_credit(
            sess,
            user=current_user._get_current_object(),
            partner_id=credit_form.partner_id.data or 0,
            customer_name=name,
            workload=credit_form.workload.data or "",
            seats=credit_form.seats.data or 0,
            source=credit_form.source.data or "",
            evidence_ref=credit_form.evidence_ref.data or "",
            competency=credit_form.competency.data or None,
        )
        sess.commit()
    except dpor.DporError as exc:
        sess.rollback()
        target = getattr(credit_form, exc.field or "", None)
        (target.errors if target is not None else credit_form.form_errors).append(exc.message)
        return _customer_page(name, dpor_form, credit_form, 422)
    flash(f"{credit_form.seats.data} seat(s) credited.", "success")
    return redirect(url_for(".customer", name=name), 303)


@bp.route("/partners/<int:partner_id>/credits")
@role_required("partner", "reviewer", "admin")
def partner_credits(partner_id: int) -> Any:
    """Show a partner's seat credits and totals (partners: their own organisation only)."""
    ensure_partner_may_see({partner_id})
    sess = db_session()
    partner = sess.get(Partner, partner_id)
    if partner is None:
        abort(404)
    summary = dpor.partner_credits(sess, partner_id)
    designations = list(
        sess.execute(
            sa.select(DporDesignation)
            .where(
                DporDesignation.partner_id == partner_id,
                DporDesignation.active.is_(True),
            )
            .order_by(DporDesignation.customer_name, DporDesignation.workload)
        ).scalars()
    )
    return render_template(
        "conflict/partner_credits.html",
        partner=partner,
        summary=summary,
        designations=designations,
        workload_labels=WORKLOAD_LABELS,
        evidence_labels=EVIDENCE_LABELS,
    )


def init_app(app: Flask) -> None:
    """Register the partner-of-record and seat-credit pages."""
    app.register_blueprint(bp)
