"""tickets closed by the system when no conflict is left

Revision ID: 4f7a9c1e2b60
Revises: 8d41c6a2b7e3
Create Date: 2026-12-03 18:10:00.000000

A ticket whose registration is withdrawn, or whose findings a re-check released, has nothing
left to decide: it is closed with the resolution ``no_conflict``, which reviewers never choose.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401

import models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = "4f7a9c1e2b60"
down_revision = "8d41c6a2b7e3"
branch_labels = None
depends_on = None

BEFORE = (
    "partner_leads",
    "mcs_leads",
    "joint_engagement",
    "rejected",
    "exception_granted",
    "exception_denied",
)
AFTER = (*BEFORE, "no_conflict")
OPEN = sa.text("status != 'decided'")


def _known(values):
    return "resolution IS NULL OR resolution IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _set_known(values):
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_ticket_resolution_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_ticket_resolution_known"), _known(values))
    if op.get_bind().dialect.name == "sqlite":
        # SQLite rebuilds the table to change a constraint, and an index on an expression
        # cannot be read back for the rebuild: make the open-ticket uniqueness index again.
        op.execute("DROP INDEX IF EXISTS uq_ticket_open_per_pair")
        op.create_index(
            "uq_ticket_open_per_pair",
            "ticket",
            ["registration_id", "rule", sa.text("coalesce(other_registration_id, 0)")],
            unique=True,
            sqlite_where=OPEN,
        )


def upgrade():
    _set_known(AFTER)


def downgrade():
    # Older code knows no such resolution: those tickets read as rejected, the nearest outcome.
    op.execute("UPDATE ticket SET resolution = 'rejected' WHERE resolution = 'no_conflict'")
    _set_known(BEFORE)
