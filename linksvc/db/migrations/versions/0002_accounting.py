"""Truthful accounting: bytes that went out, folded rows, who may resume.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("complete", sa.Boolean))
        batch.add_column(
            sa.Column("count", sa.Integer, nullable=False, server_default="1")
        )
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("last_download_addr", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("last_download_addr")
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("count")
        batch.drop_column("complete")
