"""Microsoft Teams: a person's Entra (AAD) object id; Teams contacts and their
conversation references

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("aad_object_id", sa.String(length=64), nullable=True))
        batch.create_index("ix_person_aad_object_id", ["aad_object_id"])
    op.create_table(
        "teams_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("aad_object_id", sa.String(length=64), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("greeted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"],
                                name="fk_teams_contact_person_id_person", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_teams_contact"),
        sa.UniqueConstraint("user_id", name="uq_teams_contact_user_id"),
    )
    op.create_index("ix_teams_contact_aad_object_id", "teams_contact", ["aad_object_id"])
    op.create_index("ix_teams_contact_email", "teams_contact", ["email"])
    op.create_index("ix_teams_contact_person_id", "teams_contact", ["person_id"])


def downgrade() -> None:
    op.drop_table("teams_contact")
    with op.batch_alter_table("person") as batch:
        batch.drop_index("ix_person_aad_object_id")
        batch.drop_column("aad_object_id")
