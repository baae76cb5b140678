"""Fixtures over real back ends: SQLite + embedded Redis by default, or PostgreSQL + Redis
when TEST_DATABASE_URL and TEST_REDIS_URL are set (as .ci/run does)."""

from __future__ import annotations

import logging
import os

import pytest
from sqlalchemy import create_engine, text

from app import create_app
from core import db, jobs
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


def _clean(database_url: str) -> None:
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
def app(settings_overrides):
    app = create_app(settings_overrides)
    _clean(settings_overrides["database_url"])
    yield app
    db.configure(settings_overrides["database_url"])
    jobs.configure(settings_overrides["redis_url"])


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client):
    """The test client with the admin bearer token on every call."""
    from tests.support.factories import ApiClient

    return ApiClient(client, ADMIN_TOKEN)


@pytest.fixture
def work(app):
    """Run every queued job to completion in a real RQ SimpleWorker."""
    return run_jobs


@pytest.fixture
def library(app):
    from core import library as lib

    with db.session_scope() as s:
        lib.load(s)
