"""Audience rules: who an HR rollout or assigned topic reaches, evaluated in SQL.

A rule is ``{"match": "all" | "any", "conditions": [{"field", "op", "value"}]}`` over
demographics (any imported column: Country, Department, Start Date …) and core fields.
``people(rule)`` returns a SELECT of person ids, so a 100,000-person directory is filtered
by the database and never loaded into Python.

Semantics HR relies on (README, "Audience rules"):
- A field names a core field (``CORE_FIELDS``, exact lower-case names) or else a demographic,
  whose key is matched ignoring case, accents and ``_`` / ``-`` / spaces ("start_date" finds
  "Start Date"). Demographic text compares case- and accent-insensitively (``fold``).
- ``not_equals`` / ``not_in`` are the complement of ``equals`` / ``in``: someone without the
  demographic (or the core value) matches "Country not Germany".
- ``before`` / ``after`` are strict; ``within_days`` N is from N days before today to N days
  after it, both ends included. Dates compare as ISO text (imports store YYYY-MM-DD); a value
  that is not a date matches no date condition.
- Only active people are ever in an audience; no conditions means every active person.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import aliased

from core.directory import fold
from core.models import Person, PersonAttribute

Op = Literal["equals", "not_equals", "in", "not_in", "contains", "before", "after",
             "within_days"]
TEXT_OPS = ("equals", "not_equals", "contains")
LIST_OPS = ("in", "not_in")
DATE_OPS = ("before", "after")
CHANNELS = ("slack", "teams", "sms", "email", "web")
MAX_DAYS = 36500  # a century either side: further has no HR meaning (and no calendar)
# values in one in / not_in list: 50 conditions of them stay within SQLite's 32,766 bound
# parameters even for "manager" (each value is tried as an email, employee id and id)
MAX_VALUES = 100
# "today", or a number of days from it: "-30d", "+14d"
RELATIVE = r"^(today|[+-][0-9]{1,5}d)$"
ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
ISO_LIKE = "____-__-__"  # what a stored date looks like (LIKE: one character each)
# Core fields and their columns; "manager" and "channel" are read their own way.
CORE_COLUMNS = {"name": Person.name, "email": Person.email,
                "employee_id": Person.employee_id, "timezone": Person.timezone}
CORE_FIELDS = (*CORE_COLUMNS, "manager", "channel")
# Ops each special core field takes (a demographic or a core column takes every op).
SPECIAL_OPS = {"manager": ("equals", "not_equals", "in", "not_in"),
               "channel": ("equals", "not_equals", "in", "not_in")}


def key_form(key: str) -> str:
    """A demographic key as rules match it: "Start Date", "start_date", "START-DATE" agree."""
    return " ".join(fold(key).replace("_", " ").replace("-", " ").split())


def _value_error(op: str, value: Any) -> str | None:
    """Why ``value`` does not suit ``op`` (the same rules as the JSON schema), else None."""
    if op in TEXT_OPS:
        if not isinstance(value, str) or len(value) > 500:
            return "a text value (at most 500 characters)"
    elif op in LIST_OPS:
        if (not isinstance(value, list) or not 1 <= len(value) <= MAX_VALUES
                or not all(isinstance(v, str) and len(v) <= 500 for v in value)):
            return f"a non-empty list of texts (at most {MAX_VALUES})"
    elif op in DATE_OPS:
        if not isinstance(value, str) or not _date_text(value):
            return 'a date: YYYY-MM-DD, "today", or days from today such as "-30d" or "+14d"'
    elif op == "within_days" and not _whole_days(value):
        return f"a whole number of days from 0 to {MAX_DAYS}"
    return None


def _whole_days(value: Any) -> bool:
    if isinstance(value, float) and value.is_integer():  # JSON's 3.0 is the integer 3
        value = int(value)
    return type(value) is int and 0 <= value <= MAX_DAYS


def _date_text(value: str) -> bool:
    # re.search, as JSON schema reads a pattern; the OpenAPI document says the same
    if re.search(RELATIVE, value):
        return True
    if not re.fullmatch(ISO_DATE, value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _value_schema(op: str) -> dict[str, Any]:
    text = {"type": "string", "maxLength": 500}
    if op in TEXT_OPS:
        return text
    if op in LIST_OPS:
        return {"type": "array", "items": text, "minItems": 1, "maxItems": MAX_VALUES}
    if op in DATE_OPS:
        return {"anyOf": [{"type": "string", "format": "date", "pattern": ISO_DATE},
                          {"type": "string", "pattern": RELATIVE}]}
    return {"type": "integer", "minimum": 0, "maximum": MAX_DAYS,
            "description": "within N days of today, either side (both ends included)"}


def _condition_schema(schema: dict[str, Any]) -> None:
    """The JSON schema of a condition: one branch per (field kind, op) so the document says
    exactly what pydantic accepts (schemathesis holds the API to it)."""
    def branch(field: dict[str, Any], ops: tuple[str, ...]) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False,
                "required": ["field", "op", "value"],
                "properties": {"field": field, "op": {"enum": list(ops)},
                               "value": _value_schema(ops[0])}}

    other = {"type": "string", "minLength": 1, "maxLength": 100,
             "not": {"enum": list(SPECIAL_OPS)},
             "description": f"a core field ({', '.join(CORE_FIELDS)}) or a demographic key "
                            "(any case; `_` reads as a space)"}
    channel = {"type": "array", "items": {"enum": list(CHANNELS)}, "minItems": 1,
               "maxItems": MAX_VALUES}
    branches = [branch(other, ops) for ops in
                (TEXT_OPS, LIST_OPS, DATE_OPS, ("within_days",))]
    branches += [branch({"const": "manager", "description": "the manager's email, employee "
                         'id, or person id written "id:2"'}, ops) for ops in
                 (("equals", "not_equals"), LIST_OPS)]
    channel_one = branch({"const": "channel", "description": "reachable on this channel"},
                         ("equals", "not_equals"))
    channel_one["properties"]["value"] = {"enum": list(CHANNELS)}
    channel_many = branch({"const": "channel"}, LIST_OPS)
    channel_many["properties"]["value"] = channel
    schema.clear()
    schema.update({"title": "Condition", "anyOf": [*branches, channel_one, channel_many]})


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_condition_schema)

    field: str = Field(min_length=1, max_length=100)
    op: Op
    value: Any

    @model_validator(mode="after")
    def _suits(self):
        where = f"field {self.field!r}: "
        allowed = SPECIAL_OPS.get(self.field)
        if allowed and self.op not in allowed:
            raise ValueError(f"{where}op must be one of {', '.join(allowed)}")
        if self.field == "channel":
            values = self.value if self.op in LIST_OPS else [self.value]
            if (not isinstance(values, list) or not 1 <= len(values) <= MAX_VALUES
                    or any(v not in CHANNELS for v in values)):
                shape = "a non-empty list of" if self.op in LIST_OPS else "one of"
                raise ValueError(f"{where}{self.op!r} takes {shape} {', '.join(CHANNELS)}")
            return self
        why = _value_error(self.op, self.value)
        if why:
            raise ValueError(f"{where}{self.op!r} takes {why}")
        if self.op == "within_days":
            self.value = int(self.value)  # 3.0 is the JSON integer 3
        return self


class Rule(BaseModel):
    """Who an audience is: every active person matching all (or any) of the conditions."""

    model_config = ConfigDict(extra="forbid", strict=True)

    match: Literal["all", "any"] = "all"
    conditions: list[Condition] = Field(default_factory=list, max_length=50)


def people(rule: Rule | dict[str, Any], *, today: date | None = None,
           db: DB | None = None) -> Select:
    """SELECT person.id of the active people the rule matches (all of them when it has no
    conditions). ``today`` anchors relative dates and ``within_days`` (default: today in
    UTC). The demographic keys' stored spellings are looked up once (any case, accents,
    ``_``) in ``db``; without it, in a session of its own (what is committed), so every
    caller gets the people the preview showed. Pass ``db`` when the caller has one."""
    rule = rule if isinstance(rule, Rule) else Rule.model_validate(rule)
    today = today or datetime.now(UTC).date()
    if db is not None:
        spellings = stored_keys(db, rule)
    elif demographic_fields(rule):
        from core import db as database  # the caller's database, as get_settings names it

        with database.session_scope() as own:
            spellings = stored_keys(own, rule)
    else:
        spellings = {}
    clauses = [_condition(c, today, spellings) for c in rule.conditions]
    if not clauses:
        where = true()
    elif rule.match == "all":
        where = and_(*clauses)
    else:
        where = or_(*clauses)
    return select(Person.id).where(Person.active.is_(True), where)


def demographic_fields(rule: Rule) -> list[str]:
    return [c.field for c in rule.conditions if c.field not in CORE_FIELDS]


def all_keys(db: DB) -> list[str]:
    """Every demographic key stored, in one query that walks the (key, value) index a key at
    a time (a plain DISTINCT would read every row)."""
    pa = PersonAttribute.__table__
    first = select(func.min(pa.c.key).label("key")).cte("k", recursive=True)
    following = select(select(func.min(pa.c.key)).where(pa.c.key > first.c.key)
                       .scalar_subquery()).where(first.c.key.is_not(None))
    walk = first.union_all(following)
    return [k for k in db.scalars(select(walk.c.key)) if k is not None]


def stored_keys(db: DB, rule: Rule) -> dict[str, list[str]]:
    """Each demographic field of the rule → the keys stored under its spelling(s)."""
    wanted = {key_form(f) for f in demographic_fields(rule)}
    if not wanted:
        return {}
    found: dict[str, list[str]] = {}
    for key in all_keys(db):
        if key_form(key) in wanted:
            found.setdefault(key_form(key), []).append(key)
    return found


def _bounds(condition: Condition, today: date) -> tuple[str | None, str | None, bool]:
    """(low, high, inclusive) ISO bounds of a date condition."""
    if condition.op == "within_days":
        span = timedelta(days=condition.value)
        return (today - span).isoformat(), (today + span).isoformat(), True
    day = _resolve_date(condition.value, today).isoformat()
    return (None, day, False) if condition.op == "before" else (day, None, False)


def _resolve_date(text: str, today: date) -> date:
    text = text.strip()
    if text == "today":
        return today
    if text[0] in "+-":
        return today + timedelta(days=int(text[:-1]))
    return date.fromisoformat(text)


def _date_clause(column, condition: Condition, today: date) -> ColumnElement[bool]:
    low, high, inclusive = _bounds(condition, today)
    clauses = [column.like(ISO_LIKE)]
    if low is not None:
        clauses.append(column >= low if inclusive else column > low)
    if high is not None:
        clauses.append(column <= high if inclusive else column < high)
    return and_(*clauses)


def _texts(condition: Condition) -> list[str]:
    """The condition's values, each once (in the order given)."""
    values = condition.value if condition.op in LIST_OPS else [condition.value]
    return list(dict.fromkeys(values))


def _condition(condition: Condition, today: date,
               spellings: dict[str, list[str]]) -> ColumnElement[bool]:
    if condition.field == "channel":
        reach = or_(*(reachable(c) for c in _texts(condition)))
        return reach if condition.op in ("equals", "in") else not_(reach)
    if condition.field == "manager":
        return _manager(condition)
    if condition.field in CORE_COLUMNS:
        return _column(CORE_COLUMNS[condition.field], condition, today)
    return _demographic(condition, today, spellings)


def _column(column, condition: Condition, today: date) -> ColumnElement[bool]:
    """A core text column: case-insensitive through SQL lower(); accents must match (the
    database has no portable way to drop them)."""
    if condition.op in DATE_OPS or condition.op == "within_days":
        return and_(column.is_not(None), _date_clause(column, condition, today))
    lowered = func.lower(column)
    if condition.op == "contains":
        return lowered.contains(condition.value.lower(), autoescape=True)
    hit = lowered.in_([v.lower() for v in _texts(condition)])
    return hit if condition.op in ("equals", "in") else or_(column.is_(None), not_(hit))


def _manager(condition: Condition) -> ColumnElement[bool]:
    """The manager named by email, employee id, or person id written "id:2": a bare "2" is
    only an employee id (numeric ones are common, and must not reach person 2's reports)."""
    texts = [v.strip().lower() for v in _texts(condition)]
    ids = [int(v[3:]) for v in texts
           if v.startswith("id:") and v[3:].isascii() and v[3:].isdigit()
           and 0 < int(v[3:]) < 2**31]
    boss = aliased(Person)
    managers = select(boss.id).where(or_(func.lower(boss.email).in_(texts),
                                         func.lower(boss.employee_id).in_(texts),
                                         boss.id.in_(ids)))
    hit = Person.manager_id.in_(managers)
    return hit if condition.op in ("equals", "in") else or_(Person.manager_id.is_(None),
                                                            not_(hit))


def _demographic(condition: Condition, today: date,
                 spellings: dict[str, list[str]]) -> ColumnElement[bool]:
    keys = spellings.get(key_form(condition.field), [])
    if not keys:
        # nobody has it: "equals" matches nobody, "not_equals" everybody
        return true() if condition.op in ("not_equals", "not_in") else false()
    has = exists().where(PersonAttribute.person_id == Person.id, PersonAttribute.key.in_(keys))
    if condition.op in DATE_OPS or condition.op == "within_days":
        return has.where(_date_clause(PersonAttribute.value, condition, today))
    if condition.op == "contains":
        return has.where(PersonAttribute.folded.contains(fold(condition.value),
                                                         autoescape=True))
    hit = has.where(PersonAttribute.folded.in_([fold(v) for v in _texts(condition)]))
    return hit if condition.op in ("equals", "in") else not_(hit)


def sms_opted_out():
    """SQL: the person's phone number has opted out of SMS (the ledger in PhoneNumber)."""
    from core.models import PhoneNumber

    return exists().where(PhoneNumber.number == Person.phone, PhoneNumber.opted_out.is_(True))


def reachable(channel: str):
    """SQL: the person has what a send on ``channel`` needs, and has not opted out there.
    Slack finds people by email when no Slack id is known (a failed lookup falls back to
    the invite's next channel); Teams needs the app installed (a TeamsContact); SMS a
    number not opted out; email, and a web link (sent by email), an email address."""
    from core.models import TeamsContact

    if channel == "slack":
        return or_(Person.slack_user_id.is_not(None), Person.email.is_not(None))
    if channel == "teams":
        return exists().where(TeamsContact.person_id == Person.id)
    if channel == "sms":
        return and_(Person.phone.is_not(None), ~sms_opted_out())
    if channel in ("email", "web"):
        return Person.email.is_not(None)
    return false()


def count(db: DB, rule: Rule | dict[str, Any], *, today: date | None = None) -> int:
    return db.scalar(select(func.count()).select_from(
        people(rule, today=today, db=db).subquery())) or 0


def preview(db: DB, rule: Rule | dict[str, Any], *, limit: int = 50,
            today: date | None = None) -> dict[str, Any]:
    """What HR sees before a rollout: how many, the first ``limit`` people (by id), and
    warnings about conditions that cannot be what HR meant (a key nobody has)."""
    rule = rule if isinstance(rule, Rule) else Rule.model_validate(rule)
    ids = people(rule, today=today, db=db)
    total = db.scalar(select(func.count()).select_from(ids.subquery())) or 0
    first = db.scalars(select(Person).where(Person.id.in_(ids)).order_by(Person.id)
                       .limit(limit)).all()
    return {"count": total,
            "people": [{"id": p.id, "name": p.name, "email": p.email, "timezone": p.timezone,
                        "demographics": p.demographics} for p in first],
            "warnings": warnings(db, rule)}


def warnings(db: DB, rule: Rule) -> list[str]:
    found = stored_keys(db, rule)
    out = []
    for index, c in enumerate(rule.conditions):
        if c.field not in CORE_FIELDS and key_form(c.field) not in found:
            matches = "everyone" if c.op in ("not_equals", "not_in") else "nobody"
            out.append(f"conditions[{index}] ({c.field}): nobody has this demographic, so "
                       f"'{c.op}' matches {matches} (core fields: {', '.join(CORE_FIELDS)})")
    return out


def fields(db: DB, *, top: int = 20) -> list[dict[str, Any]]:
    """Each demographic key with how many active people have it and its ``top`` most common
    values (counted case- and accent-insensitively, shown in one stored spelling): what an
    HR rule builder offers."""
    pa = PersonAttribute
    active = select(Person.id).where(Person.active.is_(True))
    per_key = db.execute(select(pa.key, func.count()).where(pa.person_id.in_(active))
                         .group_by(pa.key).order_by(pa.key)).all()
    grouped = (select(pa.key, func.min(pa.value).label("value"), func.count().label("n"),
                      func.row_number().over(partition_by=pa.key, order_by=(
                          func.count().desc(), func.min(pa.value))).label("rank"))
               .where(pa.person_id.in_(active)).group_by(pa.key, pa.folded).subquery())
    values: dict[str, list[dict[str, Any]]] = {}
    for key, value, n in db.execute(select(grouped.c.key, grouped.c.value, grouped.c.n)
                                    .where(grouped.c.rank <= top)
                                    .order_by(grouped.c.key, grouped.c.rank)):
        values.setdefault(key, []).append({"value": value, "people": n})
    return [{"key": key, "people": n, "values": values.get(key, [])} for key, n in per_key]
