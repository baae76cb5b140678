"""The audience rule builder (``dashboard/_audience.html`` + ``audience.js``), shared by a
session's rollout form and a new assigned topic: rows of field, condition and value posted
as the lists ``rule_field`` / ``rule_op`` / ``rule_value`` plus ``rule_match``, read back into
the API's rule (``core.directory.audiences``). The API checks the rule and words any error;
this only shapes what the form sent, and shows a rule in words."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

OPS = (("equals", "is"), ("not_equals", "is not"), ("contains", "contains"),
       ("in", "is one of"), ("not_in", "is none of"), ("before", "is before"),
       ("after", "is after"), ("within_days", "is within days of today"))
# the fields every person has, besides the directory's demographics
CORE = (("name", "Name"), ("email", "Email"), ("employee_id", "Employee id"),
        ("timezone", "Time zone"), ("manager", "Manager (email or employee id)"),
        ("channel", "Reachable on channel"))
LISTS = ("in", "not_in")
ROWS = 3  # rows a form shows without JavaScript (audience.js adds and removes them)


def rule_from_form(form: MultiDict) -> dict[str, Any]:
    """The posted rows as a rule; a row without a field is left out."""
    conditions = []
    for field, op, value in zip(form.getlist("rule_field"), form.getlist("rule_op"),
                                form.getlist("rule_value"), strict=False):
        field, value = field.strip(), value.strip()
        if not field:
            continue
        shaped: Any = value
        if op in LISTS:
            shaped = [v.strip() for v in value.split(",") if v.strip()]
        elif op == "within_days" and value.isascii() and value.isdigit():
            shaped = int(value)
        conditions.append({"field": field, "op": op, "value": shaped})
    return {"match": "any" if form.get("rule_match") == "any" else "all",
            "conditions": conditions}


def rows_of(rule: dict[str, Any] | None) -> list[dict[str, str]]:
    """The rule's conditions as the form shows them (lists comma-separated), then blank
    rows up to ``ROWS``."""
    rows = []
    for c in (rule or {}).get("conditions", []):
        value = c.get("value")
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value or "")
        rows.append({"field": c.get("field", ""), "op": c.get("op", "equals"), "value": text})
    return rows + [{"field": "", "op": "equals", "value": ""}] * max(ROWS - len(rows), 1)


def describe(rule: dict[str, Any] | None, everyone: str = "Everyone") -> str:
    """A rule in words: "Department is one of Sales, Support and Country is DE"."""
    conditions = (rule or {}).get("conditions") or []
    if not conditions:
        return everyone
    words = dict(OPS) | dict(CORE)
    joiner = " or " if (rule or {}).get("match") == "any" else " and "
    parts = []
    for c in conditions:
        value = c.get("value")
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        field = c.get("field", "")
        parts.append(f"{words.get(field, field)} {words.get(c.get('op'), c.get('op'))} {text}")
    return joiner.join(parts)


def builder(rule: dict[str, Any] | None, *, fields: list[dict[str, Any]],
            preview: dict[str, Any] | None = None, preview_url: str,
            count_action: str | None = None) -> dict[str, Any]:
    """What ``rule_builder`` takes: the rows, the directory's fields, the last count (a
    form posted to ``count_action`` without JavaScript), and the API route that counts."""
    return {"rows": rows_of(rule), "match": (rule or {}).get("match", "all"),
            "fields": fields, "ops": OPS, "core": CORE, "preview": preview,
            "preview_url": preview_url, "count_action": count_action}
