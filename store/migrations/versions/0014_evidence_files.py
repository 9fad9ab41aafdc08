"""Evidence files: what a submitter or a channel sends with a case, sealed with the codec's AES-GCM keys.

A file belongs to a case once a step of its timeline names its id (`detail.evidence`): files are
stored before the workflow is told of them, so a file whose step was never recorded (a refused
addition, a crash in between) is never listed. Temporal's history holds only the ids and sizes.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evidence_files",
        sa.Column("id", sa.String(36), primary_key=True),
        # No foreign key: a submission's files are stored before its workflow writes the case row.
        sa.Column("reference", sa.String(20), nullable=False, index=True),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(40), nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        # The file's place among those sent together, so that a case lists them as they were sent.
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
        sa.Column("uploaded_by", sa.String(60), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("evidence_files")
