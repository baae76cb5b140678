"""Per-interview analytics: interview_analytics (one row per ended interview: duration,
words, turns, response time, questions asked back, probes, drop-off, channels) and
interview_topic_analytics (one row per topic of it: reached, answers, sentiment), which a
session's aggregates count in SQL; interview.paused_seconds, the time spent paused, which a
duration leaves out.

Rows are not computed here (a migration never imports application code): interviews that
ended before this revision get theirs on first read, or from `parley analytics backfill`.
Their paused_seconds is 0 (pauses were not timed before), so their durations include pauses.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("interview") as batch:
        batch.add_column(sa.Column("paused_seconds", sa.Float(), server_default="0",
                                   nullable=False))
    op.create_table(
        "interview_analytics",
        sa.Column("interview_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("paused_seconds", sa.Float(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("interviewer_words", sa.Integer(), nullable=False),
        sa.Column("participant_words", sa.Integer(), nullable=False),
        sa.Column("response_seconds", sa.Float(), nullable=True),
        sa.Column("questions_asked_back", sa.Integer(), nullable=False),
        sa.Column("probed_topics", sa.Integer(), nullable=False),
        sa.Column("probed_topics_rich", sa.Integer(), nullable=False),
        sa.Column("drop_off_topic", sa.String(length=100), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["interview_id"], ["interview.id"],
                                name=op.f("fk_interview_analytics_interview_id_interview"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("interview_id", name=op.f("pk_interview_analytics")),
    )
    op.create_table(
        "interview_topic_analytics",
        sa.Column("interview_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reached", sa.Boolean(), nullable=False),
        sa.Column("answers", sa.Integer(), nullable=False),
        sa.Column("words", sa.Integer(), nullable=False),
        sa.Column("sentiment", sa.Float(), nullable=True),
        sa.Column("probed", sa.Boolean(), nullable=False),
        sa.Column("rich", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["interview_id"], ["interview.id"],
                                name=op.f("fk_interview_topic_analytics_interview_id_interview"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("interview_id", "topic",
                                name=op.f("pk_interview_topic_analytics")),
    )


def downgrade() -> None:
    op.drop_table("interview_topic_analytics")
    op.drop_table("interview_analytics")
    with op.batch_alter_table("interview") as batch:
        batch.drop_column("paused_seconds")
