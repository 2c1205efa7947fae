"""A user's previous webhook signing key, which keeps signing beside the new
one until ``webhook_previous_until`` (Standard Webhooks key rotation).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column(
                "webhook_secret_previous",
                sa.String(64),
                nullable=False,
                server_default="",
            )
        )
        batch.add_column(sa.Column("webhook_previous_until", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("webhook_previous_until")
        batch.drop_column("webhook_secret_previous")
