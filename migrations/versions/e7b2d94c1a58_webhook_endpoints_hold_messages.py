"""webhook endpoints disabled after failing hold their messages

Revision ID: e7b2d94c1a58
Revises: a4c7e2f19b36
Create Date: 2026-12-10 10:00:00.000000

An endpoint disabled after failing keeps taking events, held for it until it is enabled again
(``hold_while_disabled``), and it is disabled only once its failures have gone on for a while
(``failing_since``, the start of the current run of failures).
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel  # noqa: F401

import models.base


# revision identifiers, used by Alembic.
revision = "e7b2d94c1a58"
down_revision = "a4c7e2f19b36"
branch_labels = None
depends_on = None


def upgrade():
    # A plain default keeps SQLite from copying the table, and lets instances still running
    # the previous release add endpoints during a rolling upgrade.
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failing_since", models.base.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("hold_while_disabled", sa.Boolean(), nullable=False, server_default="0")
        )
    # Endpoints already disabled after failing hold from now on, as new ones will.
    endpoint = sa.table(
        "webhook_endpoint",
        sa.column("enabled", sa.Boolean()),
        sa.column("disabled_reason", sa.String()),
        sa.column("hold_while_disabled", sa.Boolean()),
    )
    op.execute(
        endpoint.update()
        .where(
            endpoint.c.enabled.is_(False),
            endpoint.c.disabled_reason.like("%consecutive failures%"),
        )
        .values(hold_while_disabled=True)
    )


def downgrade():
    # Messages already held stay failed with their reason; the previous release sends them when
    # the endpoint is enabled, as before. Events after the downgrade are no longer held.
    # SQLite drops the columns in place: copying the table would trip the outbox's foreign key.
    op.drop_column("webhook_endpoint", "hold_while_disabled")
    op.drop_column("webhook_endpoint", "failing_since")
