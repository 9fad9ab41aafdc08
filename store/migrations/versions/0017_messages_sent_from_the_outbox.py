"""Messages sent from the outbox by the sender, without a workflow task per message.

- `outbox.dispatch`: NULL for a message the case workflow sends with its `deliver_message` activity
  (cases begun before this change); `unconfirmed` for one the sender takes up itself once its step is
  in the workflow's history; `confirmed` once it is; `lost` when the workflow task that wrote it was
  lost (the task's rerun writes the step again, so this row is never sent).
- `outbox.written_in_task`, `outbox.run_id`: the workflow task that wrote the row (its started event)
  and the run, which the sender reads in the history to confirm the step.
- `outbox.attempts`, `outbox.next_attempt_at`, `outbox.last_error`: the sender's retries with backoff,
  held on the row (and its lease while an attempt runs); a partial index finds the rows due.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("dispatch", sa.String(12), nullable=True))
    op.add_column("outbox", sa.Column("written_in_task", sa.Integer(), nullable=True))
    op.add_column("outbox", sa.Column("run_id", sa.String(64), nullable=True))
    op.add_column("outbox", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("outbox", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("last_error", sa.String(500), nullable=True))
    op.create_index(
        "ix_outbox_due_from_the_sender", "outbox", ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending' AND dispatch IN ('unconfirmed', 'confirmed')"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_due_from_the_sender", table_name="outbox")
    for column in ("last_error", "next_attempt_at", "attempts", "run_id", "written_in_task", "dispatch"):
        op.drop_column("outbox", column)
