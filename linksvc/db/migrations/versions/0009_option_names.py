"""One name per link option: ``landing`` is ``recipient_page`` and
``version`` (the pinned file version) is ``pin``, as in the API and the code.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.alter_column("landing", new_column_name="recipient_page")
        batch.alter_column("version", new_column_name="pin")


def downgrade() -> None:
    with op.batch_alter_table("links") as batch:
        batch.alter_column("pin", new_column_name="version")
        batch.alter_column("recipient_page", new_column_name="landing")
