"""Link options (password, address ranges, pinned version, opaque tokens,
edits) and groups with a link policy.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(256)))
        batch.add_column(
            sa.Column("ranges", sa.Text, nullable=False, server_default="")
        )
        batch.add_column(sa.Column("version", sa.String(96)))
        batch.add_column(
            sa.Column("opaque", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("token_expires_at", sa.BigInteger))
        batch.add_column(sa.Column("token_limited", sa.Boolean))
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("detail", sa.Text))
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("default_expiry", sa.BigInteger),
        sa.Column("max_expiry", sa.BigInteger),
        sa.Column("max_downloads", sa.Integer),
        sa.Column(
            "password_required", sa.Boolean, nullable=False, server_default=sa.false()
        ),
        sa.Column("ranges", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "group_members",
        sa.Column(
            "group_id",
            sa.Integer,
            sa.ForeignKey("groups.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id",
            sa.Integer,
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.UniqueConstraint("group_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("group_members")
    op.drop_table("groups")
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("detail")
    with op.batch_alter_table("links") as batch:
        batch.drop_column("token_limited")
        batch.drop_column("token_expires_at")
        batch.drop_column("opaque")
        batch.drop_column("version")
        batch.drop_column("ranges")
        batch.drop_column("password_hash")
