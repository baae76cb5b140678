"""A forked child (RQ's default worker forks a work-horse per job) gets a pool of its own:
had it used the parent's pooled connections, the parent's next statements would fail
(psycopg's prepared statements no longer match the server's)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text

from core import db


def _run(query: str, times: int = 6) -> None:
    for _ in range(times):  # psycopg prepares a statement on its fifth run
        with db.session_scope() as s:
            s.execute(text(query)).all()


def test_a_forked_child_does_not_use_the_parents_connections(app):
    if db.engine().dialect.name != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    _run("SELECT 1 AS parent_first")
    pid = os.fork()
    if pid == 0:  # the child: its own statements, then gone without cleanup
        try:
            _run("SELECT 2 AS child")
        finally:
            os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    _run("SELECT 3 AS parent_after")  # the parent's next prepared statement
    _run("SELECT 4 AS parent_again")
