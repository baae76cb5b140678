"""agenda_item.messages: the provider's id of an item's message in each leg of its pair's
thread. A Teams thread is two legs (each person's personal chat with the bot), so one id
per item is not enough to update the card on both sides. Keys: "thread" for a thread that
is one conversation (a Slack group DM, an email thread), "p<person id>" for a person's leg.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agenda_item") as batch:
        batch.add_column(sa.Column("messages", sa.JSON(), nullable=True))
    op.execute("UPDATE agenda_item SET messages = '{}'")  # rows sent before: "thread" below
    item = sa.table("agenda_item", sa.column("id", sa.Integer),
                    sa.column("provider_message_id", sa.String),
                    sa.column("messages", sa.JSON))
    bind = op.get_bind()
    rows = bind.execute(sa.select(item.c.id, item.c.provider_message_id)
                        .where(item.c.provider_message_id.is_not(None))).all()
    for row in rows:
        bind.execute(item.update().where(item.c.id == row.id)
                     .values(messages={"thread": row.provider_message_id}))
    with op.batch_alter_table("agenda_item") as batch:
        batch.alter_column("messages", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("agenda_item") as batch:
        batch.drop_column("messages")
