"""SHA-256 digests of file versions (Repr-Digest, SHA256SUMS).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "digests",
        sa.Column("key", sa.String(1200), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("computed_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("digests")
