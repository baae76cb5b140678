"""email: an outbox row that carries a web invite's link names its invite, so the invite
is marked sent, or unreachable, by what became of that email

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbound") as batch:
        batch.add_column(sa.Column("invite_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_outbound_invite_id_invite", "invite", ["invite_id"],
                                 ["id"], ondelete="CASCADE")
        batch.create_index("ix_outbound_invite_id", ["invite_id"])


def downgrade() -> None:
    with op.batch_alter_table("outbound") as batch:
        batch.drop_index("ix_outbound_invite_id")
        batch.drop_constraint("fk_outbound_invite_id_invite", type_="foreignkey")
        batch.drop_column("invite_id")
