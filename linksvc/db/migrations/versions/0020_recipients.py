"""Links per recipient (a share and one link per recipient under it),
recipient verification by a one-time code, and "ask for more time".

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(32)))
        batch.add_column(
            sa.Column("share", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column(
                "recipient_label", sa.String(254), nullable=False, server_default=""
            )
        )
        batch.add_column(
            sa.Column(
                "recipient_email", sa.String(254), nullable=False, server_default=""
            )
        )
        batch.add_column(
            sa.Column("verify", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column(
                "more_time", sa.Boolean, nullable=False, server_default=sa.false()
            )
        )
        batch.create_index("ix_links_parent_id", ["parent_id"])
    op.create_table(
        "codes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "link_id",
            sa.String(32),
            sa.ForeignKey("links.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("used_at", sa.BigInteger),
        sa.Index("ix_codes_link_id", "link_id"),
    )
    op.create_table(
        "time_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "link_id",
            sa.String(32),
            sa.ForeignKey("links.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("message", sa.Text, nullable=False, server_default=""),
        sa.Column("email", sa.String(254), nullable=False, server_default=""),
        sa.Column("remote_addr", sa.String(64), nullable=False, server_default=""),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("decided_at", sa.BigInteger),
        sa.Column("decision", sa.String(16), nullable=False, server_default=""),
        sa.Index("ix_time_requests_link_id", "link_id"),
    )


def downgrade() -> None:
    op.drop_table("time_requests")
    op.drop_table("codes")
    with op.batch_alter_table("links") as batch:
        batch.drop_index("ix_links_parent_id")
        for name in (
            "more_time",
            "verify",
            "recipient_email",
            "recipient_label",
            "share",
            "parent_id",
        ):
            batch.drop_column(name)
