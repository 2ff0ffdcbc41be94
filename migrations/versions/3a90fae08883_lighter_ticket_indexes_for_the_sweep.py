"""lighter ticket indexes for the SLA sweep; webhook fan-out rows in the outbox

Revision ID: 3a90fae08883
Revises: 317f31feea2e
Create Date: 2026-12-01 20:10:00.000000

Every ticket the SLA sweep escalates gets a new row version with a new due time, so each of
the ticket's indexes takes a new entry. This revision keeps the indexes the reads need and
makes them cheaper to maintain:

* ix_ticket_status_due (every ticket, by status and due time) becomes ix_ticket_open_due, the
  open tickets only, by due time;
* the registration and partner indexes stop deduplicating (an unchanged key added by every
  update would otherwise rewrite a posting list each time);
* the second-partner index leaves out the tickets without a second partner;
* the ticket table leaves a quarter of each page free (fillfactor 75) for new row versions.
  This applies to pages written from now on; existing pages take it when the table is
  rewritten (VACUUM FULL or pg_repack), which this revision does not do to avoid a long lock.

The outbox gains the status "fanout": one row standing for the same webhook event on many
tickets, turned into one message per ticket by the webhook job.
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401

import models.base  # noqa: F401


# revision identifiers, used by Alembic.
revision = "3a90fae08883"
down_revision = "317f31feea2e"
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('open', 'in_review')")
HAS_OTHER = sa.text("other_partner_id IS NOT NULL")
NO_DEDUP = {"deduplicate_items": "off"}
STATUSES_BEFORE = "status IN ('pending', 'held', 'sending', 'sent', 'dead')"
STATUSES_AFTER = "status IN ('pending', 'held', 'sending', 'sent', 'dead', 'fanout')"


def upgrade():
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_status_due")
        batch_op.create_index(
            "ix_ticket_open_due",
            ["sla_due_at", "id"],
            unique=False,
            sqlite_where=OPEN,
            postgresql_where=OPEN,
        )
        batch_op.drop_index("ix_ticket_registration_id")
        batch_op.create_index(
            "ix_ticket_registration_id",
            ["registration_id"],
            unique=False,
            postgresql_with=NO_DEDUP,
        )
        batch_op.drop_index("ix_ticket_partner_id")
        batch_op.create_index(
            "ix_ticket_partner_id", ["partner_id"], unique=False, postgresql_with=NO_DEDUP
        )
        batch_op.drop_index("ix_ticket_other_partner_id")
        batch_op.create_index(
            "ix_ticket_other_partner_id",
            ["other_partner_id"],
            unique=False,
            sqlite_where=HAS_OTHER,
            postgresql_where=HAS_OTHER,
            postgresql_with=NO_DEDUP,
        )

    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ticket SET (fillfactor = 75)")

    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_message_status_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_outbox_message_status_known"), STATUSES_AFTER)


def downgrade():
    # Older code cannot expand fan-out rows; keep them visible to operators as dead letters.
    op.execute(
        "UPDATE outbox_message SET status = 'dead', "
        "last_error = 'webhook fan-out not expanded before a downgrade' "
        "WHERE status = 'fanout'"
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_message_status_known"), type_="check")
        batch_op.create_check_constraint(op.f("ck_outbox_message_status_known"), STATUSES_BEFORE)

    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ticket RESET (fillfactor)")

    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_other_partner_id")
        batch_op.create_index("ix_ticket_other_partner_id", ["other_partner_id"], unique=False)
        batch_op.drop_index("ix_ticket_partner_id")
        batch_op.create_index("ix_ticket_partner_id", ["partner_id"], unique=False)
        batch_op.drop_index("ix_ticket_registration_id")
        batch_op.create_index("ix_ticket_registration_id", ["registration_id"], unique=False)
        batch_op.drop_index("ix_ticket_open_due")
        batch_op.create_index("ix_ticket_status_due", ["status", "sla_due_at", "id"], unique=False)
