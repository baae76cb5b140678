"""The shipped SessionTypes and topic bank, loaded from the YAML files beside this module."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session as DB

from core.models import SessionType, Topic

HERE = Path(__file__).parent
TOPIC_FIELDS = (
    "key", "label", "description", "probing_guidance", "priority", "context",
    "opening_question", "probes",
)


def _read(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def session_types() -> tuple[dict[str, Any], ...]:
    return tuple(_read(p) for p in sorted((HERE / "session_types").glob("*.yaml")))


@lru_cache(maxsize=1)
def topic_bank() -> tuple[dict[str, Any], ...]:
    return tuple(_read(HERE / "topic_bank.yaml")["topics"])


def demo_org() -> list[dict[str, Any]]:
    return _read(HERE / "demo_org.yaml")["people"]


def make_topic(raw: dict[str, Any], position: int) -> Topic:
    return Topic(**{f: raw.get(f) for f in TOPIC_FIELDS if raw.get(f) is not None},
                 position=position, enabled=raw.get("enabled", True))


def load(db: DB) -> int:
    """Insert the shipped SessionTypes that are missing; returns how many were added.

    Existing rows are left alone so HR's edits to a built-in type survive restarts.
    """
    have = set(db.scalars(select(SessionType.slug)))
    added = 0
    for raw in session_types():
        if raw["slug"] in have:
            continue
        db.add(SessionType(
            slug=raw["slug"], name=raw["name"], purpose=raw.get("purpose", ""),
            anonymity=raw.get("anonymity", "named"), settings=raw.get("settings") or {},
            builtin=True, topics=[make_topic(t, i) for i, t in enumerate(raw["topics"])],
        ))
        added += 1
    db.flush()
    return added
