"""insight: each run of a session's insights, immutable once computed (a re-run is a new
version).

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "insight",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("engine", sa.String(length=20), nullable=False),
        sa.Column("group_by", sa.String(length=100), nullable=False),
        sa.Column("interviews", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["session_id"], ["session.id"],
                                name=op.f("fk_insight_session_id_session"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insight")),
        sa.UniqueConstraint("session_id", "version", name=op.f("uq_insight_session_id")),
    )
    op.create_index(op.f("ix_insight_session_id"), "insight", ["session_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_insight_session_id"), table_name="insight")
    op.drop_table("insight")
