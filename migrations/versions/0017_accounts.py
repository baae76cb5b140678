"""HR accounts and roles: hr_user (argon2 password hash, role), api_token (personal tokens,
sign-in tokens and one-time sign-in links, stored as SHA-256 digests), session_share, and
session.owner_user_id (who created it; members see their own and shared sessions).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hr_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hr_user")),
        sa.UniqueConstraint("email", name=op.f("uq_hr_user_email")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["hr_user.id"],
                                name=op.f("fk_api_token_user_id_hr_user"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("digest", name=op.f("uq_api_token_digest")),
    )
    op.create_index(op.f("ix_api_token_user_id"), "api_token", ["user_id"])
    op.create_table(
        "session_share",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["session.id"],
                                name=op.f("fk_session_share_session_id_session"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["hr_user.id"],
                                name=op.f("fk_session_share_user_id_hr_user"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("session_id", "user_id", name=op.f("pk_session_share")),
    )
    op.create_index(op.f("ix_session_share_user_id"), "session_share", ["user_id"])
    with op.batch_alter_table("session") as batch:
        batch.add_column(sa.Column("owner_user_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f("fk_session_owner_user_id_hr_user"), "hr_user",
                                 ["owner_user_id"], ["id"], ondelete="SET NULL")
        batch.create_index(op.f("ix_session_owner_user_id"), ["owner_user_id"])


def downgrade() -> None:
    with op.batch_alter_table("session") as batch:
        batch.drop_index(op.f("ix_session_owner_user_id"))
        batch.drop_constraint(op.f("fk_session_owner_user_id_hr_user"), type_="foreignkey")
        batch.drop_column("owner_user_id")
    op.drop_index(op.f("ix_session_share_user_id"), table_name="session_share")
    op.drop_table("session_share")
    op.drop_index(op.f("ix_api_token_user_id"), table_name="api_token")
    op.drop_table("api_token")
    op.drop_table("hr_user")
