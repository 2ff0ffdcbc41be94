"""index tickets by their second registration

Revision ID: 5b1e7c2d9f40
Revises: 3a90fae08883
Create Date: 2026-12-02 06:40:00.000000

A registration's page, the count of a registration's other open tickets when one is decided,
and an MCS seller's ticket scope all look tickets up by either of the ticket's registrations.
Without an index on the second one, each of these read the whole ticket table. Only overlap
tickets have a second registration, so the index leaves the others out.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401

import models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = "5b1e7c2d9f40"
down_revision = "3a90fae08883"
branch_labels = None
depends_on = None

HAS_OTHER = sa.text("other_registration_id IS NOT NULL")
NO_DEDUP = {"deduplicate_items": "off"}


def upgrade():
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.create_index(
            "ix_ticket_other_registration_id",
            ["other_registration_id"],
            unique=False,
            sqlite_where=HAS_OTHER,
            postgresql_where=HAS_OTHER,
            postgresql_with=NO_DEDUP,
        )


def downgrade():
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_other_registration_id")
