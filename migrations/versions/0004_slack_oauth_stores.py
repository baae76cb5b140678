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
    # The table shapes belong to slack_sdk's stores, which read and write them.
    from channels.slack import oauth_tables

    metadata = sa.MetaData()
    oauth_tables(metadata)
    return metadata


def upgrade() -> None:
    _metadata().create_all(op.get_bind())


def downgrade() -> None:
    metadata = _metadata()
    for name in TABLES:
        metadata.tables[name].drop(op.get_bind())
