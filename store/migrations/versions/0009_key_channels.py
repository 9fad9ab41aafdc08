"""Each channel key is bound to the channels it may submit through; retries by `channel_ref` are the key's own.

A website key could send `"channel": "tajawob"` and so skip the civil-ID check that only Tajawob's
sign-in makes unnecessary, and any key of a channel could resend another key's `channel_ref` and get
that key's case and tracking code. From this revision on:
- `api_keys.channels` lists what a channel key may use. A channel key made before it may use every
  channel that does not vouch for the submitter's identity: it keeps working, but a Tajawob
  integration needs a new key made with `--channel tajawob`.
- A `channel_ref` claim is keyed by the API key that made it (`ref:<key id>:<channel>:<channel_ref>`,
  api/service/intake.py). An older claim whose case records the key that submitted it becomes that key's; one
  whose case does not (not yet written, or older than that record) is left under its old name, which
  no request looks up any more: a retry of it makes a new case rather than hand over someone's code.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Every channel but Tajawob (a copy of domain.kinds.Channel as it is now: a migration keeps its own text).
CHANNELS_THAT_DO_NOT_VERIFY_IDENTITY = ["website", "social_media", "email", "phone"]


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("channels", postgresql.ARRAY(sa.String(20)), nullable=True))
    op.execute(
        sa.text("update api_keys set channels = :channels where role = 'channel'").bindparams(
            sa.bindparam("channels", CHANNELS_THAT_DO_NOT_VERIFY_IDENTITY, type_=postgresql.ARRAY(sa.String(20)))
        )
    )
    op.execute(
        "update intake_requests as claim set idempotency_key = 'ref:' || c.submitted_by_key || ':' "
        "|| substr(claim.idempotency_key, 5) "
        "from cases as c where c.reference = claim.reference and claim.idempotency_key like 'ref:%' "
        "and c.submitted_by_key ~ '^[0-9]+$' and split_part(claim.idempotency_key, ':', 2) !~ '^[0-9]+$'"
    )


def downgrade() -> None:
    # Claims keep their per-key names: two keys may hold the same channel_ref, which the old names cannot tell apart.
    op.drop_column("api_keys", "channels")
