"""Audience rules: who an HR rollout or assigned topic reaches, evaluated in SQL.

A rule is ``{"match": "all" | "any", "conditions": [{"field", "op", "value"}]}`` over
demographics (any imported column: Country, Department, Start Date …) and core fields.
``people(rule)`` returns a SELECT of person ids, so a 100,000-person directory is filtered
by the database and never loaded into Python.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, and_, exists, false, or_, select, true

from core.directory import fold
from core.models import Person, PersonAttribute

Op = Literal["equals", "not_equals", "in", "not_in", "contains", "before", "after",
             "within_days"]


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1, max_length=100)
    op: Op
    value: Any = None


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    match: Literal["all", "any"] = "all"
    conditions: list[Condition] = Field(default_factory=list, max_length=50)


def people(rule: Rule | dict[str, Any]) -> Select:
    """SELECT person.id of the active people the rule matches (all of them when it has no
    conditions)."""
    rule = rule if isinstance(rule, Rule) else Rule.model_validate(rule)
    clauses = [_condition(c) for c in rule.conditions]
    if not clauses:
        where = true()
    elif rule.match == "all":
        where = and_(*clauses)
    else:
        where = or_(*clauses)
    return select(Person.id).where(Person.active.is_(True), where)


def _condition(condition: Condition):
    """Minimal first version: demographic equals / in (case- and accent-insensitive)."""
    values = condition.value if isinstance(condition.value, list) else [condition.value]
    folded = [fold(str(v)) for v in values if v is not None]
    has = exists().where(PersonAttribute.person_id == Person.id,
                         PersonAttribute.key == condition.field,
                         PersonAttribute.folded.in_(folded))
    if condition.op in ("equals", "in"):
        return has
    if condition.op in ("not_equals", "not_in"):
        return ~has
    return false()


def reachable(channel: str):
    """SQL: the person has what a send on ``channel`` needs, and has not opted out there.
    Slack finds people by email when no Slack id is known (a failed lookup falls back to
    the invite's next channel); Teams needs the app installed (a TeamsContact); SMS a
    number not opted out; email, and a web link (sent by email), an email address."""
    from core.models import PhoneNumber, TeamsContact

    if channel == "slack":
        return or_(Person.slack_user_id.is_not(None), Person.email.is_not(None))
    if channel == "teams":
        return exists().where(TeamsContact.person_id == Person.id)
    if channel == "sms":
        opted_out = exists().where(PhoneNumber.number == Person.phone,
                                   PhoneNumber.opted_out.is_(True))
        return and_(Person.phone.is_not(None), ~opted_out)
    if channel in ("email", "web"):
        return Person.email.is_not(None)
    return false()
