"""Staff accounts for the web console: people sign in with a password or the ministry's identity provider.

- `staff_users`: a person with a login, an Argon2 hash of their password (none for single sign-on
  only), a role and, for a department officer, a department: the same roles as API keys. Wrong
  passwords are counted; five in a row lock the login until `locked_until`.
- `staff_sessions`: a signed-in browser; the cookie holds a random token, the row its SHA-256, with
  the CSRF token every form carries. Sign-out deletes the row.
- `staff_audit`: every sign-in, failed sign-in, lock, sign-out and account change.
- `case_reads.user_id`: a read by a person in the console; `key_id` is then empty.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("login", sa.String(120), nullable=False, unique=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("department", sa.String(40)),
        sa.Column("password_hash", sa.String(200)),
        # Set for a one-time password: the first sign-in asks for a password of the person's own.
        sa.Column("password_change_required", sa.Boolean, nullable=False, server_default=sa.false()),
        # The identity provider's `sub` for a person who signs in by single sign-on.
        sa.Column("oidc_subject", sa.String(255), unique=True),
        sa.Column("failed_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("staff_users.id"), nullable=False, index=True),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("language", sa.String(5), nullable=False, server_default="ar"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "staff_audit",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("login", sa.String(120), nullable=False, index=True),
        sa.Column("user_id", sa.Integer),
        # signed_in, sign_in_failed, locked, signed_out, created, disabled, ...
        sa.Column("event", sa.String(30), nullable=False),
        sa.Column("address", sa.String(64)),
        sa.Column("detail", sa.String(300)),
    )
    op.alter_column("case_reads", "key_id", existing_type=sa.Integer, nullable=True)
    op.add_column("case_reads", sa.Column("user_id", sa.Integer, sa.ForeignKey("staff_users.id")))


def downgrade() -> None:
    op.execute("delete from case_reads where key_id is null")
    op.drop_column("case_reads", "user_id")
    op.alter_column("case_reads", "key_id", existing_type=sa.Integer, nullable=False)
    op.drop_table("staff_audit")
    op.drop_table("staff_sessions")
    op.drop_table("staff_users")
