"""A link whose owner can no longer reach its path is suspended: it stops
working without being revoked, and works again if access comes back
(``on_access_lost = "keep"``). The flag lives on the row the download path
reads anyway, so checking it costs no extra query.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.add_column(
            sa.Column(
                "suspended", sa.Boolean, nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.drop_column("suspended")
