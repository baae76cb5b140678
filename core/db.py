"""Engine, session scope and migrations.

One engine per process, configured once (by ``create_app``, the worker or the scheduler)
and reused by every job, so the web app and the RQ worker share the same code path.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from core.config import ROOT, get_settings, private_file

_lock = threading.Lock()
_engine: Engine | None = None
_factory: sessionmaker[Session] | None = None


def configure(url: str) -> Engine:
    """(Re)bind the process to a database URL."""
    global _engine, _factory
    with _lock:
        if _engine is not None and str(_engine.url) == url:
            return _engine
        if _engine is not None:
            _engine.dispose()
        _engine = _make_engine(url)
        _factory = sessionmaker(_engine, expire_on_commit=False)
        return _engine


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":  # owner-only; SQLite gives -wal/-shm the same mode
            Path(path).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            private_file(Path(path))
            for suffix in ("-wal", "-shm"):
                private_file(Path(path + suffix), create=False)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # WAL lets web, worker and scheduler share it
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def engine() -> Engine:
    if _engine is None:
        configure(get_settings().effective_database_url)
    assert _engine is not None
    return _engine


@contextmanager
def session_scope() -> Iterator[Session]:
    """A transaction: commit on success, roll back on error."""
    engine()
    assert _factory is not None
    session = _factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def upgrade(url: str | None = None) -> None:
    """Apply Alembic migrations to head (serialised on PostgreSQL by an advisory lock)."""
    from alembic import command
    from alembic.config import Config

    url = url or get_settings().effective_database_url
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    eng = configure(url)
    with eng.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7251901)"))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def ping() -> None:
    with engine().connect() as conn:
        conn.execute(text("SELECT 1"))


if __name__ == "__main__":  # `python -m core.db upgrade`
    import sys

    if sys.argv[1:] != ["upgrade"]:
        raise SystemExit("usage: python -m core.db upgrade")
    upgrade()
