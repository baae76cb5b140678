"""The 1-on-1 usage report: how much managers and their reports use their threads, over the
last 7 or 30 days. Counts only. A manager is named on their own row; a direct report never
is, anywhere in the report (PROTOCOLS.md, HR norms), and a department with fewer people
than the anonymity threshold is merged into "Other" so no small team is singled out.

Activity is anything either person did in a pair's thread (``PairActivity``: an item
added, discussed or carried, a meeting closed, a note, a message). Only manager–report
pairs are counted; Meet-with-Anyone pairs are not a manager's 1-on-1s.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as DB

from core.directory import audiences, fold
from core.models import AgendaItem, OneOnOne, PairActivity, Person, PersonAttribute, utcnow
from core.one_on_ones import REPORTING

PERIODS = (7, 30)
DEPARTMENT = "Department"
OTHER = "Other"


def report(db: DB, *, days: int, department: str | None = None, threshold: int = 5,
           now: datetime | None = None) -> dict[str, Any]:
    """Hero figures, a department table, each manager's counts and a daily trend."""
    if days not in PERIODS:
        raise ValueError(f"days: {' or '.join(map(str, PERIODS))}")
    now = now or utcnow()
    since = now - timedelta(days=days)
    pairs = _pairs(db, department)
    if department is not None and 0 < _people(pairs) < threshold:  # it would single it out
        raise ValueError(f"department: fewer than {threshold} people; it is counted in "
                         f"\"{OTHER}\" of the whole report")
    pair_ids = list(pairs)
    active = _active_pairs(db, pair_ids, since, now)
    added, discussed, topics_discussed = _items(db, pair_ids, since, now)
    managers = {m for m, _, _ in pairs.values()}
    active_managers = {pairs[p][0] for p in active}
    hero = {
        "managers": len(managers),
        "managers_with_active_one_on_one": len(active_managers),
        "pairs": len(pairs), "active_pairs": len(active),
        "share_of_pairs_active": _share(len(active), len(pairs)),
        "agenda_items_added": sum(added.values()),
        "items_discussed": sum(discussed.values()),
        "assigned_topics_discussed": sum(topics_discussed.values()),
    }
    return {
        "days": days, "since": since.isoformat(), "until": now.isoformat(),
        "department": department, "threshold": threshold, "hero": hero,
        "departments": _departments(pairs, active, added, threshold),
        "managers": _managers(db, pairs, active, added, discussed),
        "trend": _trend(db, pair_ids, since, now, days),
    }


def _people(pairs: dict[int, tuple[int, int, str]]) -> int:
    return len({p for manager, report_id, _ in pairs.values() for p in (manager, report_id)})


def _share(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 0.0


def _department_keys(db: DB) -> list[str]:
    return [k for k in audiences.all_keys(db) if audiences.key_form(k) == "department"]


def _pairs(db: DB, department: str | None) -> dict[int, tuple[int, int, str]]:
    """Active manager–report pairs: id → (manager id, report id, manager's department)."""
    keys = _department_keys(db)
    dept = (select(PersonAttribute.value).where(PersonAttribute.person_id == OneOnOne.first_id,
                                                PersonAttribute.key.in_(keys))
            .limit(1).scalar_subquery()) if keys else None
    columns = [OneOnOne.id, OneOnOne.first_id, OneOnOne.second_id]
    stmt = select(*columns, dept) if dept is not None else select(*columns)
    rows = db.execute(stmt.where(OneOnOne.kind == REPORTING, OneOnOne.active.is_(True)))
    out = {}
    wanted = fold(department) if department else None
    for row in rows:
        name = (row[3] if len(row) > 3 else None) or "Unknown"
        if wanted is not None and fold(name) != wanted:
            continue
        out[row[0]] = (row[1], row[2], name)
    return out


def _in_chunks(ids: list[int], size: int = 5000):
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _active_pairs(db: DB, pair_ids: list[int], since: datetime, until: datetime) -> set[int]:
    found: set[int] = set()
    for chunk in _in_chunks(pair_ids):
        found.update(db.scalars(select(PairActivity.one_on_one_id).where(
            PairActivity.one_on_one_id.in_(chunk), PairActivity.at >= since,
            PairActivity.at < until).distinct()))
    return found


def _items(db: DB, pair_ids: list[int], since: datetime, until: datetime,
           ) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """Per pair: items people added, items discussed, assigned topics discussed."""
    added: dict[int, int] = defaultdict(int)
    discussed: dict[int, int] = defaultdict(int)
    topics: dict[int, int] = defaultdict(int)
    for chunk in _in_chunks(pair_ids):
        for pid, n in db.execute(
                select(AgendaItem.one_on_one_id, func.count()).where(
                    AgendaItem.one_on_one_id.in_(chunk), AgendaItem.added_by_id.is_not(None),
                    AgendaItem.created_at >= since, AgendaItem.created_at < until)
                .group_by(AgendaItem.one_on_one_id)):
            added[pid] = n
        for pid, assigned, n in db.execute(
                select(AgendaItem.one_on_one_id, AgendaItem.assigned_topic_id.is_not(None),
                       func.count()).where(
                    AgendaItem.one_on_one_id.in_(chunk), AgendaItem.state == "discussed",
                    AgendaItem.discussed_at >= since, AgendaItem.discussed_at < until)
                .group_by(AgendaItem.one_on_one_id, AgendaItem.assigned_topic_id.is_not(None))):
            discussed[pid] += n
            if assigned:
                topics[pid] += n
    return added, discussed, topics


def _departments(pairs: dict[int, tuple[int, int, str]], active: set[int],
                 added: dict[int, int], threshold: int) -> list[dict[str, Any]]:
    """One row per manager's department; those with fewer people (managers and reports)
    than the threshold merged into "Other"."""
    people: dict[str, set[int]] = defaultdict(set)
    for manager, report_id, dept in pairs.values():
        people[dept].update((manager, report_id))
    small = {d for d, members in people.items() if len(members) < threshold}
    rows: dict[str, dict[str, Any]] = {}
    for pid, (manager, report_id, dept) in pairs.items():
        name = OTHER if dept in small else dept
        row = rows.setdefault(name, {"department": name, "managers": set(), "pairs": 0,
                                     "active_pairs": 0, "agenda_items_added": 0,
                                     "people": set()})
        row["managers"].add(manager)
        row["people"].update((manager, report_id))
        row["pairs"] += 1
        row["active_pairs"] += pid in active
        row["agenda_items_added"] += added.get(pid, 0)
    out = []
    for row in sorted(rows.values(), key=lambda r: (r["department"] == OTHER, r["department"])):
        out.append({"department": row["department"], "managers": len(row["managers"]),
                    "people": len(row["people"]), "pairs": row["pairs"],
                    "active_pairs": row["active_pairs"],
                    "share_active": _share(row["active_pairs"], row["pairs"]),
                    "agenda_items_added": row["agenda_items_added"],
                    "merged": row["department"] == OTHER and bool(small)})
    return out


def _managers(db: DB, pairs: dict[int, tuple[int, int, str]], active: set[int],
              added: dict[int, int], discussed: dict[int, int]) -> list[dict[str, Any]]:
    """Each manager by name, with counts over their pairs: never a report's name or id."""
    rows: dict[int, dict[str, Any]] = {}
    for pid, (manager, _, _) in pairs.items():
        row = rows.setdefault(manager, {"pairs": 0, "active_pairs": 0,
                                        "agenda_items_added": 0, "items_discussed": 0})
        row["pairs"] += 1
        row["active_pairs"] += pid in active
        row["agenda_items_added"] += added.get(pid, 0)
        row["items_discussed"] += discussed.get(pid, 0)
    names: dict[int, str] = {}
    for chunk in _in_chunks(list(rows)):
        names.update(db.execute(select(Person.id, Person.name).where(Person.id.in_(chunk))).all())
    return sorted(({"manager": {"id": m, "name": names.get(m, "")}, **row}
                   for m, row in rows.items()),
                  key=lambda r: (-r["active_pairs"], r["manager"]["name"]))


def _trend(db: DB, pair_ids: list[int], since: datetime, until: datetime,
           days: int) -> list[dict[str, Any]]:
    """Per UTC day: pairs with any activity, and agenda items people added."""
    wanted = set(pair_ids)
    active: dict[str, set[int]] = defaultdict(set)
    added: dict[str, int] = defaultdict(int)
    for pid, at in db.execute(select(PairActivity.one_on_one_id, PairActivity.at).where(
            PairActivity.at >= since, PairActivity.at < until)):
        if pid in wanted:
            active[at.date().isoformat()].add(pid)
    for pid, at in db.execute(select(AgendaItem.one_on_one_id, AgendaItem.created_at).where(
            AgendaItem.created_at >= since, AgendaItem.created_at < until,
            AgendaItem.added_by_id.is_not(None))):
        if pid in wanted:
            added[at.date().isoformat()] += 1
    first = since.date() + timedelta(days=1)
    out = []
    for k in range(days):
        day = (first + timedelta(days=k)).isoformat()
        out.append({"date": day, "active_pairs": len(active.get(day, ())),
                    "agenda_items_added": added.get(day, 0)})
    return out
