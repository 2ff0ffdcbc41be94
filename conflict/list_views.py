"""Admin pages for named-account lists and district reviews; the account look-up for all."""

from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, DateField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from conflict import index_cache
from conflict.lists import (
    ListError,
    ListValidationError,
    diff_version,
    effective_version,
    import_list,
    last_sync_status,
    lookup_account,
    may_sign_off,
    preview_version,
    previous_version,
    publish,
    reviews_query,
    sign_off_review,
)
from models import District, DistrictReview, NamedAccount, NamedAccountList, User
from models.db import session as db_session
from models.district_review import REVIEW_STATUSES
from models.policy import active_policy
from web.auth import role_required
from web.forms import Form
from web.security import limiter

bp = Blueprint("lists", __name__)

# Enough rows to read on one page; the counts above each table give the full size.
SHOW_ROWS = 200
ACCOUNTS_PAGE = 100


class UploadForm(Form):
    """Upload a named-account CSV as a draft, optionally publishing it."""

    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file.")])
    label = StringField("Label", validators=[Optional(), Length(max=120)])
    publish = BooleanField("Publish now")
    effective_from = DateField("Effective from", validators=[Optional()])
    submit = SubmitField("Upload")


class PublishForm(Form):
    """Publish a draft version."""

    effective_from = DateField("Effective from", validators=[DataRequired()])
    submit = SubmitField("Publish")


class SignOffForm(Form):
    """Sign off a district review."""

    notes = TextAreaField("Notes from the review", validators=[Length(max=4000)])
    submit = SubmitField("Sign off")


class LookupForm(Form):
    """Ask whether an account is named (a GET search, so no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField(
        "Company name or web domain", validators=[DataRequired(), Length(min=2, max=300)]
    )


@bp.app_template_filter("account_value")
def account_value(value: Any) -> str:
    """Render an account field for people: aliases joined, counts grouped, blanks as a dash."""
    if value is None or value == "" or value == () or value == []:
        return "—"
    if isinstance(value, list | tuple):
        return "; ".join(str(v) for v in value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _today() -> date:
    from models import utcnow

    return utcnow().date()


def _index_page(
    form: UploadForm, refusal: ListValidationError | None = None, status: int = 200
) -> Any:
    sess = db_session()
    versions = (
        sess.execute(
            sa.select(NamedAccountList)
            .order_by(NamedAccountList.created_at.desc(), NamedAccountList.id.desc())
            .limit(SHOW_ROWS)
        )
        .scalars()
        .all()
    )
    open_reviews = sess.execute(
        sa.select(sa.func.count()).where(DistrictReview.status == "open")
    ).scalar_one()
    body = render_template(
        "lists/index.html",
        versions=versions,
        effective=effective_version(sess),
        form=form,
        refusal=refusal,
        sync=last_sync_status(sess),
        sync_url=current_app.config.get("NAMED_ACCOUNTS_URL"),
        open_reviews=open_reviews,
    )
    return body, status


@bp.route("/admin/lists", methods=["GET", "POST"])
@role_required("admin")
def index() -> Any:
    """Show the list history and last sync, and take a CSV upload."""
    form = UploadForm()
    if request.method == "GET":
        form.effective_from.data = _today()
        return _index_page(form)
    if not form.validate_on_submit():
        return _index_page(form, status=422)
    sess = db_session()
    data = form.file.data.read()
    try:
        result = import_list(
            sess,
            data,
            actor_id=current_user.id,
            label=form.label.data or f"Upload of {form.file.data.filename or 'CSV'}",
            source="upload",
            publish_now=bool(form.publish.data),
            effective_from=form.effective_from.data,
        )
    except ListValidationError as exc:
        sess.rollback()
        return _index_page(form, refusal=exc, status=422)
    except ListError as exc:
        sess.rollback()
        flash(f"Nothing was imported: {exc}.", "error")
        return _index_page(form, status=422)
    sess.commit()
    flash(result.message, "success" if result.created or result.published else "info")
    if result.version is None:
        return redirect(url_for("lists.index"))
    return redirect(url_for("lists.version", list_id=result.version.id))


@bp.route("/admin/lists/<int:list_id>")
@role_required("admin")
def version(list_id: int) -> Any:
    """Show one version: facts, diff, impact preview (drafts) and its accounts."""
    sess = db_session()
    lst = sess.get(NamedAccountList, list_id)
    if lst is None:
        abort(404)
    against = effective_version(sess) if lst.status == "draft" else previous_version(sess, lst)
    diff = diff_version(sess, lst, against)
    preview = preview_version(sess, lst) if lst.status == "draft" else None
    after = request.args.get("after", type=int) or 0
    accounts = (
        sess.execute(
            sa.select(NamedAccount)
            .where(NamedAccount.list_id == lst.id, NamedAccount.id > after)
            .order_by(NamedAccount.id)
            .limit(ACCOUNTS_PAGE + 1)
        )
        .scalars()
        .all()
    )
    next_after = accounts[ACCOUNTS_PAGE - 1].id if len(accounts) > ACCOUNTS_PAGE else None
    form = PublishForm()
    form.effective_from.data = _today()
    return render_template(
        "lists/version.html",
        lst=lst,
        against=against,
        diff=diff,
        preview=preview,
        accounts=accounts[:ACCOUNTS_PAGE],
        next_after=next_after,
        after=after,
        form=form,
        show=SHOW_ROWS,
    )


@bp.route("/admin/lists/<int:list_id>/publish", methods=["POST"])
@role_required("admin")
def publish_version(list_id: int) -> Any:
    """Publish a draft version."""
    sess = db_session()
    lst = sess.get(NamedAccountList, list_id)
    if lst is None:
        abort(404)
    form = PublishForm()
    if not form.validate_on_submit() or form.effective_from.data is None:
        flash("Give the date the list takes effect.", "error")
        return redirect(url_for("lists.version", list_id=list_id))
    try:
        result = publish(
            sess, lst, effective_from=form.effective_from.data, actor_id=current_user.id
        )
    except ListError as exc:
        sess.rollback()
        flash(f"Not published: {exc}.", "error")
        return redirect(url_for("lists.version", list_id=list_id))
    sess.commit()
    note = "" if result.recheck_ran else " Open registrations were not re-checked (see the log)."
    flash(
        f"Published {lst.label}, effective from {lst.effective_from}; "
        f"{result.reviews_opened} district review(s) opened.{note}",
        "success",
    )
    return redirect(url_for("lists.version", list_id=list_id))


@bp.route("/admin/lists/reviews")
@role_required("admin", "reviewer")
def reviews() -> Any:
    """List the district reviews the user may sign off."""
    sess = db_session()
    status = request.args.get("status", "open")
    query = reviews_query(current_user)
    if status in REVIEW_STATUSES:
        query = query.where(DistrictReview.status == status)
    rows = sess.execute(
        query.add_columns(District.name, NamedAccountList.label)
        .join(NamedAccountList, NamedAccountList.id == DistrictReview.list_id)
        .order_by(DistrictReview.due_at, DistrictReview.id)
        .limit(SHOW_ROWS)
    ).all()
    return render_template("lists/reviews.html", rows=rows, status=status, statuses=REVIEW_STATUSES)


@bp.route("/admin/lists/reviews/<int:review_id>", methods=["GET", "POST"])
@role_required("admin", "reviewer")
def review(review_id: int) -> Any:
    """Show a district review with the district's part of the diff, and sign it off."""
    sess = db_session()
    rev = sess.get(DistrictReview, review_id)
    if rev is None:
        abort(404)
    district = sess.get(District, rev.district)
    allowed = may_sign_off(current_user, district)
    if not allowed:
        abort(403)
    form = SignOffForm()
    if form.validate_on_submit():
        try:
            sign_off_review(sess, rev, user=current_user, notes=form.notes.data or "")
        except ListError as exc:
            sess.rollback()
            flash(f"Not signed off: {exc}.", "error")
        else:
            sess.commit()
            flash(
                f"Review for {district.name if district else rev.district} signed off.", "success"
            )
        return redirect(url_for("lists.review", review_id=review_id))
    lst = sess.get(NamedAccountList, rev.list_id)
    assert lst is not None
    part = diff_version(sess, lst).for_district(rev.district)
    signer = sess.get(User, rev.signed_off_by_id) if rev.signed_off_by_id else None
    status = 422 if request.method == "POST" else 200
    body = render_template(
        "lists/review.html",
        rev=rev,
        lst=lst,
        district=district,
        diff=part,
        form=form,
        signer=signer,
        show=SHOW_ROWS,
    )
    return body, status


def _lookup_key() -> str:
    return f"user:{current_user.id}" if current_user.is_authenticated else "anon"


def _lookup_limit() -> str:
    return str(current_app.config.get("LOOKUP_RATE_LIMIT", "60 per minute"))


@bp.route("/accounts/lookup")
@role_required("partner", "mcs", "reviewer", "admin")
@limiter.limit(_lookup_limit, key_func=_lookup_key, exempt_when=lambda: not request.args.get("q"))
def account_lookup() -> Any:
    """Let a user ask whether an account is named before investing in it."""
    form = LookupForm(formdata=request.args if request.args else None)
    answer = None
    if request.args and form.validate():
        sess = db_session()
        policy = active_policy(sess).values
        answer = lookup_account(
            index_cache.get_index(sess),
            form.q.data or "",
            match_score=policy.fuzzy_match_score,
            review_score=policy.fuzzy_review_score,
        )
        # The look-up wrote nothing; end the read transaction now.
        sess.rollback()
    return render_template(
        "lists/lookup.html",
        form=form,
        answer=answer,
        staff=current_user.role != "partner",
        has_list=answer is None or answer.list_version_id is not None,
    )


def init_app(app: Flask) -> None:
    """Register the list pages and the list API routes."""
    from conflict import list_api  # noqa: F401  attaches routes to the shared API blueprint

    app.register_blueprint(bp)
