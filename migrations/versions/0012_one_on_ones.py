"""1-on-1s: pairs and their threads, meetings, agenda items, private notes, HR's assigned
topics, the activity the usage report counts; the outbox row's and the rollout recipient's
pair and agenda item

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op


revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "one_on_one",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("first_id", sa.Integer(), nullable=False),
        sa.Column("second_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("thread", sa.JSON(), nullable=False),
        sa.Column("thread_id", sa.String(length=200), nullable=True),
        sa.Column("cadence_days", sa.Integer(), server_default="7", nullable=False),
        sa.Column("next_reminder_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["first_id"],
            ["person.id"],
            name=op.f("fk_one_on_one_first_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["second_id"],
            ["person.id"],
            name=op.f("fk_one_on_one_second_id_person"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_on_one")),
        sa.UniqueConstraint("kind", "first_id", "second_id", name=op.f("uq_one_on_one_kind")),
    )
    with op.batch_alter_table("one_on_one", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_one_on_one_first_id"), ["first_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_one_on_one_next_reminder_at"), ["next_reminder_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_one_on_one_second_id"), ["second_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_one_on_one_thread_id"), ["thread_id"], unique=False)

    op.create_table(
        "meeting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("one_on_one_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["closed_by_id"],
            ["person.id"],
            name=op.f("fk_meeting_closed_by_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["one_on_one_id"],
            ["one_on_one.id"],
            name=op.f("fk_meeting_one_on_one_id_one_on_one"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meeting")),
        sa.UniqueConstraint("one_on_one_id", "number", name=op.f("uq_meeting_one_on_one_id")),
    )
    op.create_table(
        "pair_activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("one_on_one_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["person.id"],
            name=op.f("fk_pair_activity_actor_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["one_on_one_id"],
            ["one_on_one.id"],
            name=op.f("fk_pair_activity_one_on_one_id_one_on_one"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pair_activity")),
    )
    with op.batch_alter_table("pair_activity", schema=None) as batch_op:
        batch_op.create_index("ix_pair_activity_at", ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pair_activity_one_on_one_id"), ["one_on_one_id"], unique=False
        )

    op.create_table(
        "private_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("one_on_one_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["person.id"],
            name=op.f("fk_private_note_author_id_person"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["one_on_one_id"],
            ["one_on_one.id"],
            name=op.f("fk_private_note_one_on_one_id_one_on_one"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_private_note")),
    )
    with op.batch_alter_table("private_note", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_private_note_one_on_one_id"), ["one_on_one_id"], unique=False
        )

    op.create_table(
        "assigned_topic",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("annotation", sa.Text(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("assigned_by_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("local_time", sa.String(length=5), nullable=True),
        sa.Column("respect_quiet_hours", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assigned_by_id"],
            ["person.id"],
            name=op.f("fk_assigned_topic_assigned_by_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollout.id"],
            name=op.f("fk_assigned_topic_rollout_id_rollout"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assigned_topic")),
    )
    op.create_table(
        "agenda_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("one_on_one_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("assigned_topic_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("carried", sa.Integer(), nullable=False),
        sa.Column("discussed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("discussed_by_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["person.id"],
            name=op.f("fk_agenda_item_added_by_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_topic_id"],
            ["assigned_topic.id"],
            name=op.f("fk_agenda_item_assigned_topic_id_assigned_topic"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["discussed_by_id"],
            ["person.id"],
            name=op.f("fk_agenda_item_discussed_by_id_person"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meeting.id"],
            name=op.f("fk_agenda_item_meeting_id_meeting"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["one_on_one_id"],
            ["one_on_one.id"],
            name=op.f("fk_agenda_item_one_on_one_id_one_on_one"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_item")),
        sa.UniqueConstraint(
            "assigned_topic_id", "one_on_one_id", name=op.f("uq_agenda_item_assigned_topic_id")
        ),
    )
    with op.batch_alter_table("agenda_item", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_agenda_item_assigned_topic_id"), ["assigned_topic_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_agenda_item_meeting_id"), ["meeting_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_agenda_item_one_on_one_id"), ["one_on_one_id"], unique=False
        )

    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.add_column(sa.Column("one_on_one_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("agenda_item_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_outbound_agenda_item_id"), ["agenda_item_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbound_one_on_one_id"), ["one_on_one_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_agenda_item_id_agenda_item"),
            "agenda_item",
            ["agenda_item_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_outbound_one_on_one_id_one_on_one"),
            "one_on_one",
            ["one_on_one_id"],
            ["id"],
            ondelete="CASCADE",
        )

    with op.batch_alter_table("rollout_recipient", schema=None) as batch_op:
        batch_op.add_column(sa.Column("one_on_one_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("agenda_item_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_rollout_recipient_one_on_one_id"), ["one_on_one_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_rollout_recipient_agenda_item_id"), ["agenda_item_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_rollout_recipient_agenda_item_id_agenda_item"),
            "agenda_item",
            ["agenda_item_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_rollout_recipient_one_on_one_id_one_on_one"),
            "one_on_one",
            ["one_on_one_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("rollout_recipient", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_rollout_recipient_one_on_one_id_one_on_one"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_rollout_recipient_agenda_item_id_agenda_item"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_rollout_recipient_agenda_item_id"))
        batch_op.drop_index(batch_op.f("ix_rollout_recipient_one_on_one_id"))
        batch_op.drop_column("agenda_item_id")
        batch_op.drop_column("one_on_one_id")

    with op.batch_alter_table("outbound", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_outbound_one_on_one_id_one_on_one"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_outbound_agenda_item_id_agenda_item"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_outbound_one_on_one_id"))
        batch_op.drop_index(batch_op.f("ix_outbound_agenda_item_id"))
        batch_op.drop_column("agenda_item_id")
        batch_op.drop_column("one_on_one_id")

    with op.batch_alter_table("agenda_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agenda_item_one_on_one_id"))
        batch_op.drop_index(batch_op.f("ix_agenda_item_meeting_id"))
        batch_op.drop_index(batch_op.f("ix_agenda_item_assigned_topic_id"))

    op.drop_table("agenda_item")
    op.drop_table("assigned_topic")
    with op.batch_alter_table("private_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_private_note_one_on_one_id"))

    op.drop_table("private_note")
    with op.batch_alter_table("pair_activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pair_activity_one_on_one_id"))
        batch_op.drop_index("ix_pair_activity_at")

    op.drop_table("pair_activity")
    op.drop_table("meeting")
    with op.batch_alter_table("one_on_one", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_one_on_one_thread_id"))
        batch_op.drop_index(batch_op.f("ix_one_on_one_second_id"))
        batch_op.drop_index(batch_op.f("ix_one_on_one_next_reminder_at"))
        batch_op.drop_index(batch_op.f("ix_one_on_one_first_id"))

    op.drop_table("one_on_one")
