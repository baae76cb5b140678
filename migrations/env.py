"""Alembic environment: uses the connection handed in by core.db.upgrade, or DATABASE_URL.

Migrations never import application code, so a migration means the same thing whatever
the models become. Only autogenerate (a developer's `alembic revision --autogenerate` or
`alembic check`) loads the models, to compare them with the database.
"""

import os

from alembic import context
from sqlalchemy import create_engine


def run() -> None:
    conn = context.config.attributes.get("connection")
    if conn is not None:
        _migrate(conn)
        return
    engine = create_engine(_url())
    with engine.begin() as conn:
        _migrate(conn)


def _url() -> str:
    url = os.environ.get("DATABASE_URL") or "sqlite:///var/parley.db"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def _ours(obj, name, type_, reflected, compare_to) -> bool:
    """slack_sdk's OAuth tables (migration 0004) are not in our models: leave them be."""
    return not (type_ == "table" and name.startswith("slack_"))


def _autogenerate_options() -> dict:
    """The models and how to write our types, for autogenerate only (a CLI run)."""
    if context.config.cmd_opts is None:  # core.db.upgrade: apply migrations, compare nothing
        return {}
    from core.models import Base, UTCDateTime

    def render_item(type_, obj, autogen_context):
        # write our UTC wrapper as a plain DateTime so migrations never import app code
        if type_ == "type" and isinstance(obj, UTCDateTime):
            return "sa.DateTime(timezone=True)"
        return False

    return {"target_metadata": Base.metadata, "render_item": render_item, "compare_type": True,
            "include_object": _ours}


def _migrate(conn) -> None:
    context.configure(connection=conn, render_as_batch=conn.dialect.name == "sqlite",
                      **_autogenerate_options())
    with context.begin_transaction():
        context.run_migrations()


run()
