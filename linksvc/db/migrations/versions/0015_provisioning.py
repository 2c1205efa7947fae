"""SCIM provisioning: which accounts and groups the identity provider keeps
(and its own ids for them), and the bearer tokens it calls us with.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("users", "groups"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(
                    "provisioned", sa.Boolean, nullable=False, server_default=sa.false()
                )
            )
            batch.add_column(sa.Column("external_id", sa.String(256)))
    op.create_table(
        "scim_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("label", sa.String(128), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger),
        sa.Column("revoked_at", sa.BigInteger),
    )


def downgrade() -> None:
    op.drop_table("scim_tokens")
    for table in ("users", "groups"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("external_id")
            batch.drop_column("provisioned")
