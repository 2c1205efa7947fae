"""Upload links (file requests): a link that lets someone send files into a
folder, its limits, and each upload it received (tus: its declared length
and the offset reached), kept in quarantine until the owner decides.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(
            sa.Column("upload", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("upload_max_file_size", sa.BigInteger))
        batch.add_column(sa.Column("upload_max_files", sa.Integer))
        batch.add_column(sa.Column("upload_max_bytes", sa.BigInteger))
        batch.add_column(
            sa.Column("upload_types", sa.Text, nullable=False, server_default="")
        )
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "link_id",
            sa.String(32),
            sa.ForeignKey("links.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("length", sa.BigInteger, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("verdict", sa.String(255)),
        sa.Column("remote_addr", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("completed_at", sa.BigInteger),
        sa.Column("decided_at", sa.BigInteger),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("accepted_path", sa.String(1024)),
        sa.Column("lease_until", sa.BigInteger),
    )
    op.create_index("ix_uploads_link_id", "uploads", ["link_id"])
    op.create_index("ix_uploads_status", "uploads", ["status"])


def downgrade() -> None:
    op.drop_table("uploads")
    with op.batch_alter_table("links") as batch:
        for name in (
            "upload_types",
            "upload_max_bytes",
            "upload_max_files",
            "upload_max_file_size",
            "upload",
        ):
            batch.drop_column(name)
