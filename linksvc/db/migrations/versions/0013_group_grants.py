"""Grants by group: a folder prefix a group's members may reach, beside
their own grants (single sign-on groups decide access through these).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "group_grants",
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey("groups.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("prefix", sa.String(1024), nullable=False),
        sa.UniqueConstraint("group_id", "prefix"),
    )


def downgrade() -> None:
    op.drop_table("group_grants")
