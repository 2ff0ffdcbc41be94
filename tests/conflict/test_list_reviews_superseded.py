"""Publishing a new list closes the open district reviews of the version it replaces."""

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from conflict.lists import ListError, open_reviews_for, sign_off_review
from models import AuditEvent, DistrictReview, utcnow
from models.db import db
from tests.conflict.test_lists import BASE_ROWS, districts, fake_recheck, publish_rows
from tests.factories import login, make_user, post_form

__all__ = ["fake_recheck"]  # the autouse fixture, shared with the service tests


def _reviews(list_id: int | None) -> dict[str, DistrictReview]:
    rows = db.session.execute(sa.select(DistrictReview).where(DistrictReview.list_id == list_id))
    return {r.district: r for r in rows.scalars()}


def test_publishing_supersedes_the_old_lists_open_reviews(ctx: Flask) -> None:
    districts()
    admin = make_user("admin")
    first = publish_rows(BASE_ROWS)
    signed = _reviews(first.id)["great_lakes"]
    sign_off_review(db.session, signed, user=admin, notes="Done.")
    db.session.commit()

    second = publish_rows(BASE_ROWS[:2])

    old = _reviews(first.id)
    assert old["northeast"].status == "superseded"
    assert old["northeast"].signed_off_at is None and old["northeast"].signed_off_by_id is None
    # A sign-off made before the new list stays a sign-off.
    assert old["great_lakes"].status == "signed_off"
    assert {r.status for r in _reviews(second.id).values()} == {"open"}
    assert {r.list_id for r in open_reviews_for(db.session, admin)} == {second.id}
    audit = db.session.execute(
        sa.select(AuditEvent).where(AuditEvent.action == "list.review_superseded")
    ).scalar_one()
    assert audit.object_id == str(old["northeast"].id)
    assert audit.data == {
        "list_id": first.id,
        "district": "northeast",
        "superseded_by_id": second.id,
    }


def test_a_superseded_review_cannot_be_signed_off(ctx: Flask) -> None:
    districts()
    admin = make_user("admin")
    first = publish_rows(BASE_ROWS)
    publish_rows(BASE_ROWS[:2])
    review = _reviews(first.id)["northeast"]
    with pytest.raises(ListError, match="closed when a newer list version was published"):
        sign_off_review(db.session, review, user=admin, notes="late", now=utcnow())
    db.session.rollback()
    assert db.session.get(DistrictReview, review.id).status == "superseded"  # type: ignore[union-attr]


def test_reviews_page_shows_superseded_reviews_as_closed(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        districts()
        first = publish_rows(BASE_ROWS)
        old_id = _reviews(first.id)["northeast"].id
        second = publish_rows(BASE_ROWS[:2])
        new_id = _reviews(second.id)["northeast"].id
        admin = make_user("admin")
        db.session.commit()
        email = admin.email
    assert login(client, email).status_code == 302

    def link(review_id: int) -> str:
        return f'href="/admin/lists/reviews/{review_id}"'

    waiting = client.get("/admin/lists/reviews").text
    assert link(new_id) in waiting and link(old_id) not in waiting
    closed = client.get("/admin/lists/reviews", query_string={"status": "superseded"}).text
    assert link(old_id) in closed and link(new_id) not in closed
    assert "badge-superseded" in closed

    page = client.get(f"/admin/lists/reviews/{old_id}").text
    assert "badge-superseded" in page and "can no longer be signed off" in page
    assert "Sign off the review" not in page
    # The page offers no form, so the token comes from the list page's sign-out form.
    resp = post_form(
        client,
        "/admin/lists/reviews",
        {"notes": "late"},
        action=f"/admin/lists/reviews/{old_id}",
        follow_redirects=True,
    )
    assert "Not signed off: this review was closed when a newer list version" in resp.text
    with app.app_context():
        assert db.session.get(DistrictReview, old_id).status == "superseded"  # type: ignore[union-attr]
