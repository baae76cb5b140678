"""Audience rules as HR writes them: every operator, all/any, case and accents, dates against
an explicit today, core fields, channel reachability, inactive people left out; the preview
and field-summary routes; bad rules answered 400 naming the condition. Real database."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from core import db, directory
from core.directory import audiences, fold
from core.models import Person, PhoneNumber, TeamsContact
from tests.integration.test_api import assert_error, ok

TODAY = date(2026, 2, 1)
EVERYONE_ACTIVE = {"ada", "bob", "cem", "dee", "fay"}


@pytest.fixture
def org(app, api):
    """Six people: five active (one without an email), one who left."""
    def person(name, **data):
        resp = api.post("/people", {"name": name.title(), "email": f"{name}@example.com", **data})
        assert resp.status_code == 201, resp.get_json()

    person("ada", slack_user_id="U1", timezone="Europe/Berlin", demographics={
        "Country": "Germany", "Department": "Engineering", "Location": "Zürich",
        "Start Date": "2026-01-10"})
    person("bob", phone="+14155550101", timezone="America/New_York", manager_email=
           "ada@example.com", demographics={"Country": "GERMANY", "Department": "Sales",
                                             "Location": "zurich", "Start Date": "2025-06-01"})
    person("cem", phone="+14155550102", manager_email="ada@example.com", demographics={
        "country": "France", "Department": "engineering", "Start Date": "2026-02-20"})
    person("dee", timezone="Asia/Tokyo", manager_email="bob@example.com", demographics={
        "Department": "Support", "Start Date": "unknown"})
    person("eve", demographics={"Country": "Germany", "Department": "Engineering"})
    with db.session_scope() as s:
        fay, _ = directory.upsert(s, {"name": "Fay", "phone": "+14155550103"})
        byname = {p.name.lower(): p for p in s.scalars(select(Person))}
        byname["ada"].employee_id = "E-1"
        byname["eve"].active = False
        s.add(PhoneNumber(number="+14155550101", opted_out=True, reason="STOP"))
        s.add(TeamsContact(user_id="29:cem", person_id=byname["cem"].id))
        return {name: p.id for name, p in byname.items()}


def who(*conditions, match="all", today=TODAY) -> set[str]:
    rule = {"match": match, "conditions": list(conditions)}
    with db.session_scope() as s:
        found = {s.get(Person, i).name.lower() for i in s.scalars(
            audiences.people(rule, today=today, db=s))}
        # the same people without a session to look the key spellings up
        assert found == {s.get(Person, i).name.lower() for i in s.scalars(
            audiences.people(rule, today=today))}
        return found


def c(field, op, value):
    return {"field": field, "op": op, "value": value}


# ---- operators over demographics -----------------------------------------------------------

def test_no_conditions_is_every_active_person(org):
    assert who() == who(match="any") == EVERYONE_ACTIVE


def test_equals_and_in_ignore_case_and_accents_in_values_and_keys(org):
    assert who(c("Country", "equals", "germany")) == {"ada", "bob"}
    assert who(c("country", "equals", "GERMANY")) == {"ada", "bob"}  # "Country" and "country"
    assert who(c("COUNTRY", "equals", "france")) == {"cem"}
    assert who(c("Location", "equals", "Zurich")) == {"ada", "bob"}
    assert who(c("location", "in", ["ZÜRICH", "Paris"])) == {"ada", "bob"}
    assert who(c("Department", "in", ["Engineering", "Support"])) == {"ada", "cem", "dee"}
    assert who(c("start_date", "equals", "2025-06-01")) == {"bob"}  # "Start Date"


def test_a_key_with_accents_is_found_in_any_spelling(org):
    with db.session_scope() as s:
        directory.upsert(s, {"email": "ada@example.com",
                             "demographics": {"Région": "Île-de-France"}})
    rule = {"conditions": [c("REGION", "equals", "ile de france".replace(" ", "-"))]}
    with db.session_scope() as s:
        assert list(s.scalars(audiences.people(rule, db=s))) == [org["ada"]]
        # without a session the same: what a rollout reaches is what the preview showed
        assert list(s.scalars(audiences.people(rule))) == [org["ada"]]
        for field in ("région", "Region", "RÉGION", "re_gion"):
            rule["conditions"][0]["field"] = field
            with_db = list(s.scalars(audiences.people(rule, db=s)))
            assert list(s.scalars(audiences.people(rule))) == with_db, field


def test_not_equals_and_not_in_include_people_without_the_demographic(org):
    # the complement of equals / in: dee and fay have no Country, so they are "not Germany"
    assert who(c("Country", "not_equals", "Germany")) == {"cem", "dee", "fay"}
    assert who(c("Country", "not_in", ["germany", "FRANCE"])) == {"dee", "fay"}
    assert who(c("Team", "not_equals", "x")) == EVERYONE_ACTIVE  # a key nobody has


def test_contains_is_a_folded_substring(org):
    assert who(c("Location", "contains", "ÜRI")) == {"ada", "bob"}
    assert who(c("Department", "contains", "eer")) == {"ada", "cem"}
    assert who(c("Department", "contains", "%")) == set()  # a wildcard is a character


def test_all_and_any(org):
    germany, engineering = c("Country", "equals", "Germany"), c("Department", "equals",
                                                                 "Engineering")
    assert who(germany, engineering) == {"ada"}
    assert who(germany, engineering, match="any") == {"ada", "bob", "cem"}


def test_dates_before_after_and_within_days_of_an_explicit_today(org):
    assert who(c("Start Date", "before", "2026-01-01")) == {"bob"}
    assert who(c("Start Date", "after", "2026-01-10")) == {"cem"}  # strict
    assert who(c("Start Date", "before", "today")) == {"ada", "bob"}  # "unknown" is no date
    assert who(c("Start Date", "after", "-30d")) == {"ada", "cem"}  # after 2026-01-02
    assert who(c("Start Date", "before", "+14d")) == {"ada", "bob"}  # before 2026-02-15
    # 30 days either side of 2026-02-01: 2026-01-02 .. 2026-03-03
    assert who(c("Start Date", "within_days", 30)) == {"ada", "cem"}
    assert who(c("Start Date", "within_days", 19)) == {"cem"}  # 2026-01-13 .. 2026-02-20
    assert who(c("Start Date", "within_days", 22), today=date(2026, 1, 1)) == {"ada"}
    assert who(c("Start Date", "within_days", 0), today=date(2025, 6, 1)) == {"bob"}


# ---- core fields -----------------------------------------------------------------------------

def test_core_fields(org):
    assert who(c("name", "equals", "ADA")) == {"ada"}
    assert who(c("email", "in", ["Bob@Example.com", "cem@example.com"])) == {"bob", "cem"}
    assert who(c("email", "not_equals", "ada@example.com")) == EVERYONE_ACTIVE - {"ada"}
    assert who(c("email", "contains", "E@EXAMPLE")) == {"dee"}
    assert who(c("employee_id", "equals", "e-1")) == {"ada"}
    assert who(c("timezone", "equals", "asia/tokyo")) == {"dee"}
    assert who(c("timezone", "not_in", ["UTC"])) == {"ada", "bob", "dee"}
    assert who(c("department", "equals", "support")) == {"dee"}  # the demographic


def test_manager_by_email_employee_id_or_person_id(org):
    assert who(c("manager", "equals", "ADA@example.com")) == {"bob", "cem"}
    assert who(c("manager", "equals", "e-1")) == {"bob", "cem"}
    assert who(c("manager", "in", [f"id:{org['bob']}"])) == {"dee"}
    # people without a manager are "not managed by Ada"
    assert who(c("manager", "not_equals", "ada@example.com")) == {"ada", "dee", "fay"}


def test_a_bare_number_is_an_employee_id_never_a_person_id(org):
    # employee ids are often numbers: "2" must not also name whoever has person id 2
    with db.session_scope() as s:
        s.get(Person, org["cem"]).employee_id = str(org["bob"])
    assert who(c("manager", "equals", str(org["bob"]))) == set()  # cem manages nobody
    assert who(c("manager", "equals", f"id:{org['bob']}")) == {"dee"}
    assert who(c("manager", "in", [str(org["ada"]), "id:0", "id:x"])) == set()


def test_channel_reachability(org):
    # Slack: a Slack id, or an email to look one up by; fay has neither
    assert who(c("channel", "equals", "slack")) == EVERYONE_ACTIVE - {"fay"}
    # Teams: only with the app installed (a Teams contact)
    assert who(c("channel", "equals", "teams")) == {"cem"}
    # SMS: a number that has not opted out (bob texted STOP)
    assert who(c("channel", "equals", "sms")) == {"cem", "fay"}
    assert who(c("channel", "in", ["email", "web"])) == EVERYONE_ACTIVE - {"fay"}
    assert who(c("channel", "not_in", ["email", "sms"])) == set()
    assert who(c("channel", "not_equals", "sms")) == {"ada", "bob", "dee"}


def test_inactive_people_are_never_in_an_audience(org):
    assert "eve" not in who(c("Country", "equals", "Germany"))
    assert "eve" not in who(c("email", "equals", "eve@example.com"))


# ---- the API ----------------------------------------------------------------------------------

def test_preview_counts_lists_the_first_fifty_and_warns(org, api):
    found = ok(api.post("/audiences/preview", {"audience": {"conditions": [
        c("country", "equals", "germany"), c("Department", "equals", "engineering")]}}))
    assert found["count"] == 1 and found["warnings"] == []
    assert found["people"] == [{
        "id": org["ada"], "name": "Ada", "email": "ada@example.com",
        "timezone": "Europe/Berlin", "demographics": {
            "Country": "Germany", "Department": "Engineering", "Location": "Zürich",
            "Start Date": "2026-01-10"}}]

    with db.session_scope() as s:
        for n in range(60):
            directory.upsert(s, {"name": f"P{n}", "email": f"p{n}@example.com",
                                 "demographics": {"Role": "Engineer"}})
    found = ok(api.post("/audiences/preview", {"audience": {"match": "any", "conditions": [
        c("Role", "equals", "engineer"), c("Favourite colour", "equals", "blue")]}}))
    assert found["count"] == 60
    assert len(found["people"]) == 50
    ids = [p["id"] for p in found["people"]]
    assert ids == sorted(ids)
    assert len(found["warnings"]) == 1
    assert "conditions[1] (Favourite colour)" in found["warnings"][0]
    assert ok(api.post("/audiences/preview", {"audience": {}}))["count"] == 65


@pytest.mark.parametrize(("condition", "mentions"), [
    (c("Country", "in", []), "non-empty list"),
    (c("Country", "in", "Germany"), "non-empty list"),
    (c("Country", "equals", ["Germany"]), "text value"),
    (c("Start Date", "before", "01/02/2026"), "YYYY-MM-DD"),
    (c("Start Date", "after", "2026-02-30"), "YYYY-MM-DD"),
    (c("Start Date", "within_days", -1), "whole number"),
    (c("Start Date", "within_days", True), "whole number"),
    (c("Start Date", "within_days", "30"), "whole number"),
    (c("channel", "equals", "fax"), "slack"),
    (c("channel", "contains", "sl"), "op must be"),
    (c("manager", "before", "2026-01-01"), "op must be"),
    ({"field": "Country", "op": "like", "value": "x"}, "op"),
    ({"field": "Country", "op": "equals"}, "value"),
])
def test_a_bad_rule_is_a_400_naming_the_condition_and_field(app, api, condition, mentions):
    rule = {"conditions": [c("Country", "equals", "Germany"), condition]}
    resp = api.post("/audiences/preview", {"audience": rule})
    message = assert_error(resp, 400, "bad_request", "conditions.1", mentions)
    if "field" in condition and "op" in condition and "value" in condition and \
            condition["op"] != "like":
        assert repr(condition["field"]) in message


def test_a_bad_body_is_a_400(app, api):
    assert_error(api.post("/audiences/preview", {"match": "all", "conditions": []}), 400,
                 "bad_request", "audience")
    assert_error(api.post("/audiences/preview", {"audience": {"match": "some"}}), 400,
                 "bad_request", "match")


def test_directory_fields_counts_people_and_common_values(org, api):
    fields = {f["key"]: f for f in ok(api.get("/directory/fields"))["fields"]}
    # eve (inactive) is not counted; "Country" and "country" are two stored keys
    assert fields["Country"]["people"] == 2
    # values are counted folded ("Germany" and "GERMANY" are one), shown in a stored spelling
    [germany] = fields["Country"]["values"]
    assert germany["value"] in ("Germany", "GERMANY") and germany["people"] == 2
    assert fields["country"]["values"] == [{"value": "France", "people": 1}]
    department = fields["Department"]
    assert department["people"] == 4
    assert [(fold(v["value"]), v["people"]) for v in department["values"]] == [
        ("engineering", 2), ("sales", 1), ("support", 1)]

    with db.session_scope() as s:
        for n in range(25):
            directory.upsert(s, {"name": f"P{n}", "email": f"p{n}@example.com",
                                 "demographics": {"Badge": f"B{n:02d}"}})
    badge = {f["key"]: f for f in ok(api.get("/directory/fields"))["fields"]}["Badge"]
    assert badge["people"] == 25 and len(badge["values"]) == 20
