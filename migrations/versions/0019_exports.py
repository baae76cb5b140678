"""Exports: export (one bulk export: format, filters, the reader's restriction, status,
progress, when its file expires) and export_file (the file in pieces, in the database so
every web process can serve it; deleted when the export expires).

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("session_ids", sa.JSON(), nullable=True),
        sa.Column("identity", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("withheld", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export")),
    )
    op.create_index(op.f("ix_export_status"), "export", ["status"])
    op.create_index(op.f("ix_export_expires_at"), "export", ["expires_at"])
    op.create_table(
        "export_file",
        sa.Column("export_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["export_id"], ["export.id"],
                                name=op.f("fk_export_file_export_id_export"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("export_id", "seq", name=op.f("pk_export_file")),
    )


def downgrade() -> None:
    op.drop_table("export_file")
    op.drop_index(op.f("ix_export_expires_at"), table_name="export")
    op.drop_index(op.f("ix_export_status"), table_name="export")
    op.drop_table("export")
