"""directory and rollouts: employee ids, active people, the manager as imported, folded
demographic values for audience rules, directory settings (the hierarchy's source), session
triggers, rollouts and their recipients, and the outbox row's queue (interactive / bulk)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "directory_setting",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_directory_setting")),
    )
    op.create_table(
        "rollout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("send_at", UTC_DATETIME, nullable=True),
        sa.Column("local_time", sa.String(length=5), nullable=True),
        sa.Column("reminders", sa.JSON(), nullable=False),
        sa.Column("quiet_hours", sa.JSON(), nullable=False),
        sa.Column("respect_quiet_hours", sa.Boolean(), nullable=False),
        sa.Column("trigger_key", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("started_at", UTC_DATETIME, nullable=True),
        sa.Column("finished_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["session.id"],
                                name=op.f("fk_rollout_session_id_session"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout")),
        sa.UniqueConstraint("session_id", "trigger_key", name=op.f("uq_rollout_session_id")),
    )
    with op.batch_alter_table("rollout") as batch:
        batch.create_index("ix_rollout_session_id", ["session_id"])
        batch.create_index("ix_rollout_state", ["state"])
    op.create_table(
        "rollout_recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("due_at", UTC_DATETIME, nullable=True),
        sa.Column("invite_id", sa.Integer(), nullable=True),
        sa.Column("outbound_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("next_reminder_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["invite_id"], ["invite.id"],
                                name=op.f("fk_rollout_recipient_invite_id_invite"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["outbound_id"], ["outbound.id"],
                                name=op.f("fk_rollout_recipient_outbound_id_outbound"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name=op.f("fk_rollout_recipient_person_id_person"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["rollout_id"], ["rollout.id"],
                                name=op.f("fk_rollout_recipient_rollout_id_rollout"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_recipient")),
        sa.UniqueConstraint("rollout_id", "person_id",
                            name=op.f("uq_rollout_recipient_rollout_id")),
    )
    with op.batch_alter_table("rollout_recipient") as batch:
        batch.create_index("ix_rollout_recipient_due", ["status", "due_at"])
        batch.create_index("ix_rollout_recipient_invite_id", ["invite_id"])
        batch.create_index("ix_rollout_recipient_outbound_id", ["outbound_id"])
        batch.create_index("ix_rollout_recipient_person_id", ["person_id"])
        batch.create_index("ix_rollout_recipient_reminder", ["next_reminder_at"])
    with op.batch_alter_table("outbound") as batch:
        batch.add_column(sa.Column("queue", sa.String(length=12), server_default="interactive",
                                   nullable=False))
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("employee_id", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("manager_ref", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("active", sa.Boolean(), server_default=sa.true(),
                                   nullable=False))
        batch.create_index("ix_person_manager_id", ["manager_id"])
        batch.create_unique_constraint("uq_person_employee_id", ["employee_id"])
    # SQLite's batch mode rebuilds the table without its expression index: put it back
    op.execute("CREATE INDEX IF NOT EXISTS ix_person_email_lower ON person (lower(email))")
    with op.batch_alter_table("person_attribute") as batch:
        batch.add_column(sa.Column("folded", sa.String(length=500), server_default="",
                                   nullable=False))
        batch.create_index("ix_person_attribute_key_folded", ["key", "folded"])
    with op.batch_alter_table("session") as batch:
        batch.add_column(sa.Column("triggers", sa.JSON(), server_default="[]", nullable=False))
    _fold_existing_values()


def _fold(text: str) -> str:
    """As core.directory.fold (migrations never import application code)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    # at most the column's 500 characters: folding lengthens some text ("ß" is "ss")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()[:500]


def _fold_existing_values() -> None:
    attribute = sa.table("person_attribute", sa.column("id", sa.Integer),
                         sa.column("value", sa.String), sa.column("folded", sa.String))
    bind = op.get_bind()
    rows = bind.execute(sa.select(attribute.c.id, attribute.c.value)).all()
    change = attribute.update().where(attribute.c.id == sa.bindparam("row_id")).values(
        folded=sa.bindparam("row_folded"))
    for start in range(0, len(rows), 1000):  # executemany, a thousand rows at a time
        bind.execute(change, [{"row_id": i, "row_folded": _fold(v or "")}
                              for i, v in rows[start:start + 1000]])


def downgrade() -> None:
    with op.batch_alter_table("session") as batch:
        batch.drop_column("triggers")
    with op.batch_alter_table("person_attribute") as batch:
        batch.drop_index("ix_person_attribute_key_folded")
        batch.drop_column("folded")
    with op.batch_alter_table("person") as batch:
        batch.drop_constraint("uq_person_employee_id", type_="unique")
        batch.drop_index("ix_person_manager_id")
        batch.drop_column("active")
        batch.drop_column("manager_ref")
        batch.drop_column("employee_id")
    op.execute("CREATE INDEX IF NOT EXISTS ix_person_email_lower ON person (lower(email))")
    with op.batch_alter_table("outbound") as batch:
        batch.drop_column("queue")
    op.drop_table("rollout_recipient")
    op.drop_table("rollout")
    op.drop_table("directory_setting")
