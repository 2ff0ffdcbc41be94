"""one open ticket per registration, rule and second registration

Revision ID: 8d41c6a2b7e3
Revises: 5b1e7c2d9f40
Create Date: 2026-12-03 15:20:00.000000

An MCS engagement that overlaps several partners' registrations opens one ticket for each of
them, since a ticket has one registration on each side and its decision settles exactly those
two. The unique index on open tickets therefore takes the second registration into account;
tickets without one (a named account, an exception) stay one per registration and rule.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401

import models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = "8d41c6a2b7e3"
down_revision = "5b1e7c2d9f40"
branch_labels = None
depends_on = None

OPEN = sa.text("status != 'decided'")


def upgrade():
    op.drop_index("uq_ticket_open_per_rule", table_name="ticket")
    op.create_index(
        "uq_ticket_open_per_pair",
        "ticket",
        ["registration_id", "rule", sa.text("coalesce(other_registration_id, 0)")],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade():
    op.drop_index("uq_ticket_open_per_pair", table_name="ticket")
    op.create_index(
        "uq_ticket_open_per_rule",
        "ticket",
        ["registration_id", "rule"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
