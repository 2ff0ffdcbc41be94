"""district reviews close as superseded when their list is

Revision ID: a4c7e2f19b36
Revises: 4f7a9c1e2b60
Create Date: 2026-12-04 10:00:00.000000

Publishing a new named-account list closes the open district reviews of the version it
replaces: they take the status "superseded" (closed, not signed off), so the review page no
longer offers them for sign-off.
"""

from alembic import op
import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401

import models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = "a4c7e2f19b36"
down_revision = "4f7a9c1e2b60"
branch_labels = None
depends_on = None

STATUSES_BEFORE = "status IN ('open', 'signed_off')"
STATUSES_AFTER = "status IN ('open', 'signed_off', 'superseded')"


def upgrade():
    with op.batch_alter_table("district_review", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_district_review_status_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_district_review_status_known"), STATUSES_AFTER)
    # Reviews left open on lists superseded before this revision close the same way.
    op.execute(
        "UPDATE district_review SET status = 'superseded' WHERE status = 'open' AND list_id IN "
        "(SELECT id FROM named_account_list WHERE status = 'superseded')"
    )


def downgrade():
    # Older code knows only open and signed-off reviews: the closed ones read as open again, as
    # they did before this revision (the audit trail still records their closing).
    op.execute("UPDATE district_review SET status = 'open' WHERE status = 'superseded'")
    with op.batch_alter_table("district_review", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_district_review_status_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_district_review_status_known"), STATUSES_BEFORE)
