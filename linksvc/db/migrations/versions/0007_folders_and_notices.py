"""Folder links, notices (outbox), reminders, webhooks, links sent by email.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_LINK_TIMES = (
    "first_noticed_at",
    "used_up_noticed_at",
    "reminded_at",
    "expiry_noticed_at",
)


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(
            sa.Column("folder", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("notify", sa.Boolean, nullable=False, server_default=sa.false())
        )
        for name in _LINK_TIMES:
            batch.add_column(sa.Column(name, sa.BigInteger))
        batch.add_column(
            sa.Column("sent_to", sa.Text, nullable=False, server_default="")
        )
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("webhook_url", sa.String(2048), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column(
                "webhook_secret", sa.String(64), nullable=False, server_default=""
            )
        )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE")),
        sa.Column("link_id", sa.String(32)),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(2048), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False, server_default=""),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("locked_until", sa.BigInteger),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sent_at", sa.BigInteger),
        sa.Column("failed_at", sa.BigInteger),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_outbox_due", "outbox", ["sent_at", "failed_at", "due_at"])
    op.create_index("ix_outbox_user", "outbox", ["user_id"])
    op.create_table(
        "crcs",
        sa.Column("key", sa.String(1200), primary_key=True),
        sa.Column("crc", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("crcs")
    op.drop_index("ix_outbox_user", "outbox")
    op.drop_index("ix_outbox_due", "outbox")
    op.drop_table("outbox")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("webhook_secret")
        batch.drop_column("webhook_url")
    with op.batch_alter_table("links") as batch:
        batch.drop_column("sent_to")
        for name in reversed(_LINK_TIMES):
            batch.drop_column(name)
        batch.drop_column("notify")
        batch.drop_column("folder")
