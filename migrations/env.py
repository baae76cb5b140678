"""Alembic environment: uses the connection handed in by core.db.upgrade, or the settings."""

from alembic import context
from sqlalchemy import create_engine

from core.config import get_settings
from core.models import Base, UTCDateTime

target_metadata = Base.metadata


def run() -> None:
    conn = context.config.attributes.get("connection")
    if conn is not None:
        _migrate(conn)
        return
    engine = create_engine(get_settings().effective_database_url)
    with engine.begin() as conn:
        _migrate(conn)


def _render_item(type_, obj, autogen_context):
    """Write our UTC wrapper as a plain DateTime so migrations never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    """slack_sdk's OAuth tables (migration 0004) are not in our models: leave them be."""
    return not (type_ == "table" and name.startswith("slack_"))


def _migrate(conn) -> None:
    context.configure(
        connection=conn,
        target_metadata=target_metadata,
        render_as_batch=conn.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
        include_object=_ours,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
