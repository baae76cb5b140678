"""Manager links (Person.manager_id), rebuilt from the source HR chose.

The source is the manager column of the import (``Person.manager_ref``) or, when that one
does not hold together, a demographic HR names (e.g. "Manager Email"). Either value is
matched to a person's employee id, else email. The hierarchy is *validated* when every value
resolves and no chain of managers loops. Links are computed over plain tuples (a 100,000-
person org fits in a few dicts) and only links that change are written, in one executemany.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.orm import Session as DB

from core.models import DirectorySetting, Person, PersonAttribute, utcnow

KEY = "hierarchy"
SOURCES = ("manager_column", "demographic")
DEFAULT = {"source": "manager_column", "demographic": None}
SHOWN = 100


class NoSuchDemographic(LookupError):
    """The demographic HR named as the source is held by nobody."""


def lock(db: DB) -> None:
    """One directory writer at a time on PostgreSQL (two imports creating the same person
    would collide); SQLite serialises writers anyway."""
    if db.get_bind().dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(7251911)"))


def source(db: DB) -> dict[str, Any]:
    row = db.get(DirectorySetting, KEY)
    return {**DEFAULT, **(row.value if row else {})}


def _plan(db: DB, chosen: dict[str, Any]) -> tuple[dict[int, int | None], dict[int, int | None],
                                                   list[dict[str, Any]], int]:
    """(current links, wanted links, unresolved, people with a manager value)."""
    people = db.execute(select(Person.id, Person.employee_id, Person.email, Person.manager_id,
                               Person.manager_ref)).all()
    if chosen["source"] == "demographic":
        refs = dict(db.execute(select(PersonAttribute.person_id, PersonAttribute.value)
                               .where(PersonAttribute.key == chosen["demographic"])).all())
    else:
        refs = {pid: ref for pid, _, _, _, ref in people}
    by_id = {eid: pid for pid, eid, _, _, _ in people if eid}
    by_email = {email.lower(): pid for pid, _, email, _, _ in people if email}
    who = {pid: (eid, email) for pid, eid, email, _, _ in people}
    current = {pid: mid for pid, _, _, mid, _ in people}
    wanted: dict[int, int | None] = dict.fromkeys(current)
    unresolved: list[dict[str, Any]] = []

    def miss(pid: int, reason: str) -> None:
        unresolved.append({"person_id": pid, "employee_id": who[pid][0], "email": who[pid][1],
                           "manager": refs[pid], "reason": reason})

    valued = 0
    for pid in current:
        ref = (refs.get(pid) or "").strip()
        if not ref:
            continue
        valued += 1
        manager = by_id.get(ref) or by_email.get(ref.lower())
        if manager is None:
            miss(pid, f"unknown manager {ref!r}: no person with that employee id or email")
        elif manager == pid:
            miss(pid, "is their own manager")
        else:
            wanted[pid] = manager
    for cycle in _cycles(wanted):
        names = [refs[p].strip() for p in cycle]
        path = " → ".join([*names, names[0]])
        for pid in cycle:
            miss(pid, f"manager cycle: {path}")
            wanted[pid] = None
    return current, wanted, unresolved, valued


def _cycles(links: dict[int, int | None]) -> list[list[int]]:
    """Every loop in the manager graph (each person has at most one manager), in O(n)."""
    state: dict[int, int] = {}  # 1: on the walk being followed, 2: done
    found = []
    for start in links:
        walk = []
        node: int | None = start
        while node is not None and node in links and node not in state:
            state[node] = 1
            walk.append(node)
            node = links[node]
        if node is not None and state.get(node) == 1:
            found.append(walk[walk.index(node):])
        for n in walk:
            state[n] = 2
    return found


def status(db: DB) -> dict[str, Any]:
    """Which source is in use, how many links, what could not be resolved and why."""
    chosen = source(db)
    current, wanted, unresolved, valued = _plan(db, chosen)
    return {"source": chosen["source"], "demographic": chosen["demographic"],
            "links": sum(1 for m in current.values() if m is not None),
            "with_manager_value": valued, "unresolved_count": len(unresolved),
            "unresolved": unresolved[:SHOWN], "validated": not unresolved}


def rebuild(db: DB) -> dict[str, Any]:
    """Set every manager link from the current source; writes only the links that change."""
    chosen = source(db)
    current, wanted, unresolved, valued = _plan(db, chosen)
    changes = [{"_id": pid, "m": mid} for pid, mid in wanted.items() if current[pid] != mid]
    if changes:
        db.flush()
        _write_links(db, changes)
        db.expire_all()
    from core.one_on_ones import sync_pairs  # the 1-on-1 pairs follow the links

    pairs = sync_pairs(db)
    return {"source": chosen["source"], "demographic": chosen["demographic"],
            "links": sum(1 for m in wanted.values() if m is not None),
            "links_changed": len(changes), "with_manager_value": valued, "pairs": pairs,
            "unresolved_count": len(unresolved), "unresolved": unresolved,
            "validated": not unresolved}


def _write_links(db: DB, changes: list[dict[str, Any]]) -> None:
    """One UPDATE per link elsewhere; on PostgreSQL the links go to a temporary table by COPY
    and one UPDATE … FROM sets them (100,000 single-row UPDATEs take half a minute)."""
    conn = db.connection()
    person = Person.__table__
    if conn.dialect.name != "postgresql" or len(changes) < 1000:
        conn.execute(update(person).where(person.c.id == bindparam("_id"))
                     .values(manager_id=bindparam("m")), changes)
        return
    conn.execute(text("CREATE TEMPORARY TABLE manager_link (id integer, m integer) "
                      "ON COMMIT DROP"))
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy("COPY manager_link (id, m) FROM STDIN") as copy:
        for change in changes:
            copy.write_row((change["_id"], change["m"]))
    conn.execute(text("UPDATE person SET manager_id = manager_link.m FROM manager_link "
                      "WHERE person.id = manager_link.id"))
    conn.execute(text("DROP TABLE manager_link"))


def set_source(db: DB, new_source: str, demographic: str | None = None) -> dict[str, Any]:
    """Choose where manager links come from and rebuild them all (the caller's transaction).
    A demographic is named as HR spells it, matched without case to a stored one; raises
    NoSuchDemographic when nobody has it, ValueError for an unknown source."""
    if new_source not in SOURCES:
        raise ValueError(f"source: one of {', '.join(SOURCES)}")
    lock(db)
    if new_source == "demographic":
        wanted = (demographic or "").strip()
        stored = db.scalar(select(PersonAttribute.key)
                           .where(func.lower(PersonAttribute.key) == wanted.lower()).limit(1)) \
            if wanted else None
        if stored is None:
            raise NoSuchDemographic(f"demographic: nobody has {demographic!r}" if wanted
                                    else 'demographic: name one, e.g. "Manager Email"')
        demographic = stored
    else:
        demographic = None
    row = db.get(DirectorySetting, KEY)
    value = {"source": new_source, "demographic": demographic}
    if row is None:
        db.add(DirectorySetting(key=KEY, value=value))
    else:
        row.value, row.updated_at = value, utcnow()
    db.flush()
    result = rebuild(db)
    result["unresolved"] = result["unresolved"][:SHOWN]
    return result
