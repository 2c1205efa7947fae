"""Drop links.key_id: written at creation, never read (the token names its key).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("key_id")


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(
            sa.Column("key_id", sa.String(16), nullable=False, server_default="")
        )
