"""indexes the read paths need, inbox attempts and interview link, a person's Slack team

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = (  # (table, column): foreign keys that lists, joins and cascades read by
    ("interview", "person_id"),
    ("interview", "session_id"),
    ("interview", "restarted_from_id"),
    ("invite", "session_id"),
    ("invite", "person_id"),
    ("outbound", "turn_id"),
)


def upgrade() -> None:
    with op.batch_alter_table("inbound_event") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False,
                                   server_default="0"))
        batch.add_column(sa.Column("interview_id", sa.Integer(), nullable=True))
        batch.create_index("ix_inbound_event_interview_id", ["interview_id"])
        batch.create_foreign_key("fk_inbound_event_interview_id_interview", "interview",
                                 ["interview_id"], ["id"], ondelete="CASCADE")
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("slack_team_id", sa.String(length=40), nullable=True))
    for table, column in INDEXES:
        op.create_index(f"ix_{table}_{column}", table, [column])
    op.create_index("ix_person_email_lower", "person", [sa.text("lower(email)")])


def downgrade() -> None:
    op.drop_index("ix_person_email_lower", table_name="person")
    for table, column in INDEXES:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
    with op.batch_alter_table("person") as batch:
        batch.drop_column("slack_team_id")
    with op.batch_alter_table("inbound_event") as batch:
        batch.drop_constraint("fk_inbound_event_interview_id_interview", type_="foreignkey")
        batch.drop_index("ix_inbound_event_interview_id")
        batch.drop_column("interview_id")
        batch.drop_column("attempts")
