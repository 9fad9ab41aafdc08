"""Each step knows its number and the workflow task that wrote it, so a step of a lost task is replaced.

A step is written by a local activity, which commits before Temporal has accepted the workflow task
that ran it. When that task is lost (a killed or starved worker), Temporal runs the workflow again
from its history, and the same step number may now be a different step. The number and the task
(the workflow's history length when the step ran) tell the store which write is the truth:
activities/case_store.py.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Derived from the keys, so rows written by an older release during a deploy get their number too.
# (A copy of store.models.STEP_OF_KEY: a migration keeps the text it was written with.)
STEP_OF_KEY = "CASE WHEN {key} ~ '^[0-9]+-' THEN split_part({key}, '-', 1)::integer END"


def upgrade() -> None:
    op.add_column("timeline", sa.Column("step", sa.Integer,
                                        sa.Computed(STEP_OF_KEY.format(key="step_key"), persisted=True)))
    op.add_column("timeline", sa.Column("written_in_task", sa.BigInteger, nullable=False, server_default="0"))
    op.create_index("ix_timeline_reference_step", "timeline", ["reference", "step"])
    op.add_column("outbox", sa.Column("step", sa.Integer,
                                      sa.Computed(STEP_OF_KEY.format(key="message_key"), persisted=True)))
    op.add_column("cases", sa.Column("last_task", sa.BigInteger, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("cases", "last_task")
    op.drop_column("outbox", "step")
    op.drop_index("ix_timeline_reference_step", table_name="timeline")
    op.drop_column("timeline", "written_in_task")
    op.drop_column("timeline", "step")
