"""After a large import the database knows how big the directory is: otherwise PostgreSQL
plans the next audience preview as if the tables were empty (bench/rollout.py measured 100 s
instead of 0.2 s for 100,000 people until autovacuum caught up)."""

from sqlalchemy import text

from core import db
from core.directory import BULK_CHANGE


def _rows_the_planner_knows(table: str) -> float:
    with db.engine().connect() as conn:
        if conn.dialect.name == "postgresql":
            return conn.execute(text("SELECT reltuples FROM pg_class WHERE relname = :t"),
                                {"t": table}).scalar()
        has_stats = conn.execute(text(
            "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")).scalar()
        if not has_stats:
            return -1
        stat = conn.execute(text("SELECT stat FROM sqlite_stat1 WHERE tbl = :t LIMIT 1"),
                            {"t": table}).scalar()
        return float(stat.split()[0]) if stat else -1


def test_a_large_import_refreshes_the_planners_statistics(api):
    lines = ["employee id,email,Country"] + [
        f"E{i},p{i}@example.com,{'Germany' if i % 3 else 'France'}" for i in range(BULK_CHANGE)]
    resp = api.post("/directory/import", data="\n".join(lines) + "\n",
                    content_type="text/csv")
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["counts"]["created"] == BULK_CHANGE
    assert _rows_the_planner_knows("person") >= BULK_CHANGE
    assert _rows_the_planner_knows("person_attribute") >= BULK_CHANGE
