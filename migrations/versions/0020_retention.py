"""Retention and erasure: session_type.retention_days (how long participant text is kept
raw, per session type; null = RETENTION_RAW_TEXT_DAYS) and person.erased_at (a person
erased under GDPR stays as a nameless tombstone, so counts and foreign keys hold).

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("session_type") as batch:
        batch.add_column(sa.Column("retention_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.drop_column("erased_at")
    with op.batch_alter_table("session_type") as batch:
        batch.drop_column("retention_days")
