"""Slack OAuth installation and state stores (slack_sdk's SQLAlchemy tables)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("slack_installations", "slack_bots", "slack_oauth_states")


def _metadata() -> sa.MetaData:
    """slack_sdk's SQLAlchemy installation and state store tables, frozen as slack_sdk 3.4x
    builds them (a migration never imports application code: the schema it creates must
    not change when a library does)."""
    metadata = sa.MetaData()
    s32, s200, s1000 = sa.String(32), sa.String(200), sa.String(1000)
    sa.Table(
        "slack_installations", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", s32, nullable=False),
        sa.Column("app_id", s32, nullable=False),
        sa.Column("enterprise_id", s32),
        sa.Column("enterprise_name", s200),
        sa.Column("enterprise_url", s200),
        sa.Column("team_id", s32),
        sa.Column("team_name", s200),
        sa.Column("bot_token", s200),
        sa.Column("bot_id", s32),
        sa.Column("bot_user_id", s32),
        sa.Column("bot_scopes", s1000),
        sa.Column("bot_refresh_token", s200),
        sa.Column("bot_token_expires_at", sa.DateTime),
        sa.Column("user_id", s32, nullable=False),
        sa.Column("user_token", s200),
        sa.Column("user_scopes", s1000),
        sa.Column("user_refresh_token", s200),
        sa.Column("user_token_expires_at", sa.DateTime),
        sa.Column("incoming_webhook_url", s200),
        sa.Column("incoming_webhook_channel", s200),
        sa.Column("incoming_webhook_channel_id", s200),
        sa.Column("incoming_webhook_configuration_url", s200),
        sa.Column("is_enterprise_install", sa.Boolean, nullable=False, default=False),
        sa.Column("token_type", s32),
        sa.Column("installed_at", sa.DateTime, nullable=False, default=sa.func.now()),
        sa.Index("slack_installations_idx", "client_id", "enterprise_id", "team_id",
                 "user_id", "installed_at"),
    )
    sa.Table(
        "slack_bots", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", s32, nullable=False),
        sa.Column("app_id", s32, nullable=False),
        sa.Column("enterprise_id", s32),
        sa.Column("enterprise_name", s200),
        sa.Column("team_id", s32),
        sa.Column("team_name", s200),
        sa.Column("bot_token", s200),
        sa.Column("bot_id", s32),
        sa.Column("bot_user_id", s32),
        sa.Column("bot_scopes", s1000),
        sa.Column("bot_refresh_token", s200),
        sa.Column("bot_token_expires_at", sa.DateTime),
        sa.Column("is_enterprise_install", sa.Boolean, nullable=False, default=False),
        sa.Column("installed_at", sa.DateTime, nullable=False, default=sa.func.now()),
        sa.Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
    )
    sa.Table(
        "slack_oauth_states", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("state", s200, nullable=False),
        sa.Column("expire_at", sa.DateTime, nullable=False),
    )
    return metadata


def upgrade() -> None:
    _metadata().create_all(op.get_bind())


def downgrade() -> None:
    metadata = _metadata()
    for name in TABLES:
        metadata.tables[name].drop(op.get_bind())
