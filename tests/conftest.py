"""Fixtures over real back ends: SQLite + embedded Redis by default, or PostgreSQL + Redis
when TEST_DATABASE_URL and TEST_REDIS_URL are set (as .ci/run does)."""

from __future__ import annotations

import contextlib
import logging
import os

import pytest
from sqlalchemy import create_engine, text

from app import create_app
from core import db, jobs
from core.config import load_settings, using
from core.models import Base
from tests.support.worker import run_jobs

ADMIN_TOKEN = "test-admin-token"
PUBLIC_URL = "http://parley.test"


@pytest.fixture(scope="session")
def backends(tmp_path_factory):
    """Migrate a fresh database once per run; return (database_url, redis_url)."""
    logging.getLogger("rq").setLevel(logging.WARNING)
    database_url = os.environ.get("TEST_DATABASE_URL", "")
    redis_url = os.environ.get("TEST_REDIS_URL", "")
    if database_url:
        if database_url.startswith("postgresql://"):
            database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
        engine = create_engine(database_url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    else:
        database_url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'parley.db'}"
    if not redis_url:
        redis_url = jobs.embedded_url(tmp_path_factory.mktemp("redis"))
    db.upgrade(database_url)
    yield database_url, redis_url
    jobs.stop_embedded()


def _clean() -> None:
    """Empty the current settings' database and queue."""
    with db.engine().begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                conn.execute(table.delete())
    jobs.connection().flushdb()


@pytest.fixture
def settings_overrides(backends, tmp_path):
    database_url, redis_url = backends
    return {
        "database_url": database_url, "redis_url": redis_url, "var_dir": tmp_path,
        "secret_key": "test-secret", "admin_api_token": ADMIN_TOKEN,
        "public_base_url": PUBLIC_URL,
    }


@pytest.fixture
def make_app(settings_overrides):
    """``make_app(library=False, **overrides)`` → an app on the shared, migrated back end.

    The database and the queue start empty. The first app a test makes is its main one: the
    test body runs with its settings bound, so direct database calls and ``run_jobs`` see
    what its requests see. Further apps (another Redis, other credentials) are used through
    their own test clients, whose requests bind their own settings.
    """
    with contextlib.ExitStack() as stack:
        stack.enter_context(using(load_settings(**settings_overrides)))
        _clean()
        made: list = []

        def make(*, library: bool = False, **overrides):
            app = create_app({**settings_overrides, **overrides})
            if not made:
                stack.enter_context(using(app.config["SETTINGS"]))
            made.append(app)
            if library:
                from core import library as shipped

                with db.session_scope() as s:
                    shipped.load(s)
            return app

        yield make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client):
    """The test client with the admin bearer token on every call."""
    from tests.support.factories import ApiClient

    return ApiClient(client, ADMIN_TOKEN)


@pytest.fixture
def work(make_app):
    """Run every queued job to completion in a real RQ SimpleWorker, with the settings of
    the test's main app."""
    return run_jobs


@pytest.fixture
def library(app):
    from core import library as lib

    with db.session_scope() as s:
        lib.load(s)
