"""The case row keeps what the ministry last wrote to its submitter: the question, the answer, a rejection's reason.

The tracking view read them back by scanning the timeline for action names; it now reads the case's
state (the workflow's view while it runs, this row once it has ended). Rows written before are
filled from their timeline, the way the view used to read it. Personal data: erased with the rest
(activities/retention.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The question stands while the case waits for its submitter; the answer until a contest; a rejection for good.
_QUESTION = """
update cases set question = last.detail ->> 'question'
from (select distinct on (reference) reference, detail from timeline
      where action = 'request_info' order by reference, id desc) as last
where last.reference = cases.reference and cases.status = 'awaiting_submitter'
"""
_ANSWER = """
update cases set answer = last.detail ->> 'message'
from (select distinct on (reference) reference, action, detail from timeline
      where action in ('respond', 'contest') order by reference, id desc) as last
where last.reference = cases.reference and last.action = 'respond'
"""
_REJECTION = """
update cases set rejection_reason = rejected.detail ->> 'reason'
from (select distinct on (reference) reference, detail from timeline
      where action = 'reject' order by reference, id desc) as rejected
where rejected.reference = cases.reference
"""


def upgrade() -> None:
    op.add_column("cases", sa.Column("question", sa.Text, nullable=True))
    op.add_column("cases", sa.Column("answer", sa.Text, nullable=True))
    op.add_column("cases", sa.Column("rejection_reason", sa.Text, nullable=True))
    for statement in (_QUESTION, _ANSWER, _REJECTION):
        op.execute(statement)


def downgrade() -> None:
    op.drop_column("cases", "rejection_reason")
    op.drop_column("cases", "answer")
    op.drop_column("cases", "question")
