"""The migrated schema has what the read paths need (issue 8, item 15): an index on every
foreign key that lists, joins and cascades read by, and case-insensitive email lookups."""

import pytest
from sqlalchemy import inspect, text

from core import db

INDEXED = [("interview", "person_id"), ("interview", "session_id"),
           ("interview", "restarted_from_id"), ("invite", "session_id"),
           ("invite", "person_id"), ("outbound", "turn_id"), ("outbound", "interview_id"),
           ("inbound_event", "interview_id")]


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection")
def test_the_read_paths_are_indexed(app):
    inspector = inspect(db.engine())
    leading = {(table, index["column_names"][0])
               for table in {t for t, _ in INDEXED}
               for index in inspector.get_indexes(table) if index["column_names"]}
    assert [pair for pair in INDEXED if pair not in leading] == []
    with db.engine().connect() as conn:  # expression indexes are not reflected: ask directly
        sql = ("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_person_email_lower'"
               if conn.dialect.name == "postgresql" else
               "SELECT sql FROM sqlite_master WHERE name = 'ix_person_email_lower'")
        definition = conn.execute(text(sql)).scalar() or ""
    assert "lower(" in definition.lower() and "email" in definition.lower()


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection",
                            "ignore:autogenerate skipping metadata-specified expression")
def test_the_migrations_build_what_the_models_describe(app):
    """Every model change comes with its migration (a new column only in the models would
    work in tests that create tables and fail on every real install)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from core.models import Base

    def ours(obj, name, type_, reflected, compare_to):
        # Slack's OAuth stores are slack_sdk's tables (0004), not our models
        return not (type_ == "table" and reflected and compare_to is None)

    with db.engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_object": ours, "compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    # the expression index on lower(email) is not reflected on every database
    diff = [d for d in diff if not (d[0] in ("add_index", "remove_index")
                                     and d[1].name == "ix_person_email_lower")]
    assert diff == []
