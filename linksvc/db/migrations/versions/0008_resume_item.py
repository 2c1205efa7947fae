"""What a limited link's last count was for (a range resumes only that);
how many events an outbox message stands for (coalesced notices).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(sa.Column("last_download_item", sa.String(1024)))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(
            sa.Column("events", sa.Integer, nullable=False, server_default="1")
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("events")
    with op.batch_alter_table("links") as batch:
        batch.drop_column("last_download_item")
