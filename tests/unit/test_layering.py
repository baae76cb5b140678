"""DESIGN.md §2: dependencies point one way, and each SDK is imported in exactly one module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]
OURS = {"app", "core", "channels", "bots", "scheduler", "web", "migrations", "tests", "bench"}


def imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (function-level imports count too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("package, forbidden", [
    ("core", {"flask", "werkzeug", "channels", "bots", "web", "scheduler", "slack_sdk",
              "slack_bolt", "botbuilder", "twilio"}),
    ("bots", {"channels", "web", "flask", "slack_sdk", "slack_bolt", "openai"}),
])
def test_lower_layers_never_import_upward(package, forbidden):
    offending = {str(f.relative_to(ROOT)): sorted(top(m) for m in imports(f) if top(m) in forbidden)
                 for f in files(package)}
    assert {f: m for f, m in offending.items() if m} == {}


def test_the_contract_module_imports_no_concrete_channel():
    concrete = {p.stem for p in files("channels")} - {"__init__", "base", "durable"}
    mods = imports(ROOT / "channels" / "base.py")
    assert not {m for m in mods if m.startswith("channels.") and m.split(".")[1] in concrete}
    assert not {m for m in mods if top(m) == "channels"}


def test_migrations_import_no_application_code():
    for path in files("migrations"):
        mods = {top(m) for m in imports(path)} & OURS
        if path.name == "env.py":
            # only autogenerate loads the models, inside a function a migration never runs
            assert mods <= {"core"}
            continue
        assert mods == set(), path.name


@pytest.mark.parametrize("sdk, home", [
    ("slack_sdk", "channels/slack.py"), ("slack_bolt", "channels/slack.py"),
    ("openai", "core/interviewer/llm.py"), ("twilio", "channels/sms.py"),
    ("requests", "channels/webhooks.py"), ("urllib3", "channels/webhooks.py"),
])
def test_each_sdk_lives_in_one_module(sdk, home):
    users = {str(f.relative_to(ROOT)) for pkg in ("core", "channels", "bots", "web", "scheduler")
             for f in files(pkg) if any(top(m) == sdk for m in imports(f))}
    assert users == {home}


def test_frozen_slack_tables_match_slack_sdk():
    """Migration 0004 copies slack_sdk's store tables; if slack_sdk changes them, a new
    migration is due (this test says so instead of a failing OAuth install)."""
    import importlib.util

    from channels.slack import oauth_tables

    spec = importlib.util.spec_from_file_location(
        "m0004", ROOT / "migrations" / "versions" / "0004_slack_oauth_stores.py")
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    frozen, sdk = migration._metadata(), sa.MetaData()
    oauth_tables(sdk)

    def shape(metadata):
        return {t.name: ([(c.name, str(c.type), c.nullable, c.primary_key) for c in t.columns],
                         sorted((i.name, tuple(c.name for c in i.columns)) for i in t.indexes))
                for t in metadata.sorted_tables}

    assert shape(frozen) == shape(sdk)
