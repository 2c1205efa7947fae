"""Users have an email address; account events name whom they are about.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("email", sa.String(254), nullable=False, server_default="")
        )
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("subject", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("subject")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email")
