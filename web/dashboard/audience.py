"""The audience rule builder's form (``dashboard/_audience.html``): rows of field, op and
value posted as parallel lists, read back into the API's rule (``core.directory.audiences``).
The API checks the rule and words any error; this only shapes what the form sent."""

from __future__ import annotations

from typing import Any

from werkzeug.datastructures import MultiDict

OPS = (("equals", "is"), ("not_equals", "is not"), ("in", "is one of"),
       ("not_in", "is none of"), ("contains", "contains"), ("before", "is before"),
       ("after", "is after"), ("within_days", "is within days of today"))
LISTS = ("in", "not_in")
CORE = (("manager", "Manager (email or employee id)"), ("channel", "Reachable on channel"))
BLANK_ROWS = 2  # empty rows offered below the rule's own (the script shows one at a time)


def rule_from_form(form: MultiDict) -> dict[str, Any]:
    conditions = []
    for field, op, value in zip(form.getlist("rule_field"), form.getlist("rule_op"),
                                form.getlist("rule_value"), strict=False):
        field, value = field.strip(), value.strip()
        if not field:
            continue
        shaped: Any = value
        if op in LISTS:
            shaped = [v.strip() for v in value.split(",") if v.strip()]
        elif op == "within_days" and value.isdigit():
            shaped = int(value)
        conditions.append({"field": field, "op": op, "value": shaped})
    return {"match": "any" if form.get("rule_match") == "any" else "all",
            "conditions": conditions}


def rows_of(rule: dict[str, Any] | None) -> list[dict[str, str]]:
    """The rule's conditions as the form shows them (lists comma-separated), and blank rows."""
    rows = []
    for c in (rule or {}).get("conditions", []):
        value = c.get("value")
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value or "")
        rows.append({"field": c.get("field", ""), "op": c.get("op", "equals"), "value": text})
    return rows + [{"field": "", "op": "equals", "value": ""}] * BLANK_ROWS


def describe(rule: dict[str, Any] | None) -> str:
    """A rule in words: "Department is one of Sales, Support and Country is DE"."""
    conditions = (rule or {}).get("conditions") or []
    if not conditions:
        return "Every manager–report pair"
    words = dict(OPS)
    joiner = " or " if (rule or {}).get("match") == "any" else " and "
    parts = []
    for c in conditions:
        value = c.get("value")
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(f"{c.get('field')} {words.get(c.get('op'), c.get('op'))} {text}")
    return joiner.join(parts)
