"""People and the org chart: upsert by email, search for autofill, the demo directory.

The package also holds the bulk import (``imports``) and the audience rules evaluated in SQL
(``audiences``).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session as DB

from core import phones
from core.config import get_settings
from core.models import Person, PersonAttribute

FIELDS = ("name", "phone", "slack_user_id", "slack_team_id", "teams_user_id", "timezone",
          "aad_object_id")


class KeyConflict(ValueError):
    """The email given is another person's (matched by employee id, or with another id)."""


FOLDED_MAX = 500  # PersonAttribute.folded's length


def fold(text: str) -> str:
    """Text as audience rules compare it: case-folded, accents removed ("Zürich" and "zurich"
    match), outer spaces trimmed. Kept beside each demographic value (PersonAttribute.folded)
    so the comparison runs in SQL on every database. At most 500 characters, whatever it
    folds from: folding lengthens some text ("ß" is "ss", U+FDFA 18 letters), and a rule's
    value is folded the same way, so both sides of a comparison are cut alike."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).strip()[:FOLDED_MAX]


def set_attribute(person: Person, key: str, value: Any) -> None:
    """Set one demographic, keeping its folded form in step."""
    text = str(value)
    for attribute in person.attributes:
        if attribute.key == key:
            attribute.value, attribute.folded = text, fold(text)
            return
    person.attributes.append(PersonAttribute(key=key, value=text, folded=fold(text)))


def by_email(db: DB, email: str) -> Person | None:
    return db.scalar(select(Person).where(func.lower(Person.email) == email.strip().lower()))


def upsert(db: DB, data: dict[str, Any], *, update: bool = True) -> tuple[Person, bool]:
    """Create or update the person with this employee id, else this email. Returns (person,
    created). Raises LookupError for an unknown manager, KeyConflict for an email another
    employee id holds, phones.InvalidPhone for a phone that is none. ``update=False``
    creates a new person but leaves an existing one as it is (someone who may invite
    people but not edit the directory)."""
    email = (data.get("email") or "").strip().lower() or None
    employee_id = (data.get("employee_id") or "").strip() or None
    person = db.scalar(select(Person).where(Person.employee_id == employee_id)) \
        if employee_id else None
    if person is None and email:
        person = by_email(db, email)
        if person is not None and employee_id and person.employee_id not in (None, employee_id):
            raise KeyConflict(f"email {email} belongs to employee id {person.employee_id}")
    elif person is not None and email and by_email(db, email) not in (None, person):
        raise KeyConflict(f"email {email} belongs to another person")
    created = person is None
    if not created and not update:
        return person, False
    if person is None:
        person = Person(email=email, name=data.get("name") or email or "")
        db.add(person)
    elif email:
        person.email = email
    if employee_id:
        person.employee_id = employee_id
    for name in FIELDS:
        if data.get(name) is not None:
            setattr(person, name, data[name])
    if data.get("phone"):  # SMS senders arrive as E.164: keep every number that way
        person.phone = phones.normalise(data["phone"], get_settings().sms_default_region)
    if data.get("manager_email"):
        manager = by_email(db, data["manager_email"])
        if manager is None:
            raise LookupError(f"no person with email {data['manager_email']}")
        if manager is person:
            raise LookupError("a person cannot be their own manager")
        person.manager = manager
        person.manager_ref = manager.employee_id or manager.email  # the hierarchy's source
        db.flush()
        from sqlalchemy.exc import IntegrityError

        from core.one_on_ones import sync_pairs  # the 1-on-1 pairs follow the links

        try:
            with db.begin_nested():
                sync_pairs(db, reports=[person.id])
        except IntegrityError:  # a concurrent sync made the same pair first: it is there
            pass
    if data.get("demographics") is not None:
        for key, value in data["demographics"].items():
            set_attribute(person, key, value)
    db.flush()
    return person, created


CHANNEL_IDS = {"slack": Person.slack_user_id, "teams": Person.teams_user_id,
               "sms": Person.phone, "email": Person.email}


def by_address(db: DB, channel: str, key: str, *, team: str | None = None) -> Person | None:
    """The person behind a sender on a channel (their Slack id, phone, email …). A Slack id
    is read with its workspace: someone kept under another workspace is someone else."""
    column = CHANNEL_IDS.get(channel)
    if column is None or not key:
        return None
    stmt = select(Person).where(column == key)
    if channel == "slack" and team:
        stmt = stmt.where(or_(Person.slack_team_id == team, Person.slack_team_id.is_(None)))
        stmt = stmt.order_by(Person.slack_team_id.is_(None))  # the exact workspace first
    return db.scalar(stmt.limit(1))


def matching(q: str) -> Select:
    """People whose name or email contains ``q`` (any case), for autofill; all when blank.
    A statement, so the caller orders and pages it."""
    stmt = select(Person).where(Person.erased_at.is_(None))
    if q.strip():
        needle = q.strip().lower()  # autoescape: "_" and "%" match themselves
        stmt = stmt.where(or_(func.lower(Person.name).contains(needle, autoescape=True),
                              func.lower(Person.email).contains(needle, autoescape=True)))
    return stmt


def load_demo(db: DB, people: list[dict[str, Any]]) -> int:
    """Load the demo org unless it is already there (managers come before their reports)."""
    if db.scalar(select(func.count()).select_from(Person)):
        return 0
    for raw in people:
        upsert(db, raw)
    return len(people)


BULK_CHANGE = 1000  # people changed by one import past which the statistics are refreshed


def after_import(counts: dict[str, int]) -> None:
    """Once a large import is committed, let the database plan audiences with the new size
    of the directory (``core.db.analyze``)."""
    from core import db

    changed = sum(counts.get(k, 0) for k in ("created", "updated", "deactivated", "reactivated"))
    if changed >= BULK_CHANGE:
        db.analyze("person", "person_attribute")
