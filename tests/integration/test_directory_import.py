"""The directory import and the hierarchy, over the real database: every rejection with its
line, idempotent re-imports, dry runs, full mode, manager links and their fallback, the API
and the CLI."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from core import db, directory
from core.directory import hierarchy, imports
from core.models import AuditLog, Person, PersonAttribute
from web import cli

HEADER = "Employee ID,Full Name,Work Email,Mobile,Time Zone,Manager,Country,Department,Start Date"
ORG = "\n".join([
    HEADER,
    "E1,Miriam Hoffmann,miriam@northwind.example,+49 30 23125 001,Europe/Berlin,,"
    "Germany,Executive,2019-01-14",
    "E2,Daniel Okafor,daniel@northwind.example,+49 30 23125 002,Europe/Berlin,E1,"
    "Germany,Engineering,04/03/2019",
    "E3,Rachel Kim,rachel@northwind.example,+1 212 555 0103,America/New_York,"
    "miriam@northwind.example,United States,Sales,10/02/2020",
    "E4,Sofía Marín,sofia@northwind.example,,Europe/Berlin,E2,Germany,Engineering,",
]) + "\n"


def run(text: str | bytes, *, name: str = "people.csv", **kw) -> dict:
    data = text.encode() if isinstance(text, str) else text
    with db.session_scope() as s:
        return imports.run(s, imports.read(data, filename=name), **kw).as_dict()


def people() -> dict[str, Person]:
    with db.session_scope() as s:
        found = {p.employee_id or p.email: p for p in s.scalars(select(Person))}
        for p in found.values():
            p.demographics  # noqa: B018 (loaded before the session closes)
        s.expunge_all()
        return found


def managers() -> dict[str, str | None]:
    everyone = people()
    by_id = {p.id: key for key, p in everyone.items()}
    return {key: by_id.get(p.manager_id) for key, p in everyone.items()}


def test_an_org_imports_with_its_fields_demographics_dates_and_manager_links(app):
    report = run(ORG)

    assert report["counts"] == {"created": 4, "updated": 0, "unchanged": 0, "deactivated": 0,
                                "reactivated": 0, "rejected": 0, "unresolved": 0}
    assert report["hierarchy"]["validated"] is True
    everyone = people()
    sofia = everyone["E4"]
    assert (sofia.name, sofia.email, sofia.timezone) == (
        "Sofía Marín", "sofia@northwind.example", "Europe/Berlin")
    assert everyone["E3"].phone == "+12125550103"
    # 04/03/2019 and 10/02/2020 fit both readings: IMPORT_DATE_ORDER (DMY) decides
    assert everyone["E2"].demographics == {"Country": "Germany", "Department": "Engineering",
                                           "Start Date": "2019-03-04"}
    assert "Start Date" not in sofia.demographics  # a blank cell stores nothing
    # the manager by employee id or by email; kept as given, so links can be rebuilt
    assert managers() == {"E1": None, "E2": "E1", "E3": "E1", "E4": "E2"}
    assert everyone["E3"].manager_ref == "miriam@northwind.example"
    with db.session_scope() as s:
        folded = s.scalar(select(PersonAttribute.folded).where(
            PersonAttribute.key == "Country", PersonAttribute.value == "United States"))
    assert folded == "united states"


def test_every_rejection_names_its_line_and_the_valid_rows_still_import(app):
    text = f"""{HEADER}
E1,Ann,ann@example.com,,Europe/Berlin,,Germany,Sales,2020-01-31
E2,Bob,bob-at-example.com,,,,,,
E3,Cy,cy@example.com,,Mars/Olympus,,,,
E4,Di,di@example.com,not a phone,,,,,
E5,Ed,ed@example.com,,,,,,2020-02-30
,Fay,,,,,,,
E1,Gus,gus@example.com,,,,,,
E8,Hal,ANN@example.com,,,,,,
E9,Ivy,ivy@example.com,,,,,,
"""
    report = run(text)

    rejected = {r["line"]: r for r in report["rejected"]}
    assert sorted(rejected) == [3, 4, 5, 6, 7, 8, 9]
    assert "Work Email" in rejected[3]["reason"] and rejected[3]["employee_id"] == "E2"
    assert "Time Zone" in rejected[4]["reason"] and "Mars/Olympus" in rejected[4]["reason"]
    assert "Mobile" in rejected[5]["reason"]
    assert "Start Date" in rejected[6]["reason"] and "2020-02-30" in rejected[6]["reason"]
    assert "no employee id and no email" in rejected[7]["reason"]
    assert rejected[8]["reason"] == "employee id E1 is already on line 2"
    assert rejected[9]["reason"] == "email ann@example.com is already on line 2"
    assert report["counts"]["created"] == 2 and report["counts"]["rejected"] == 7
    assert sorted(people()) == ["E1", "E9"]


@pytest.mark.parametrize("zone", ["Europe", "Etc", "America/", "../etc/passwd", "/UTC"])
def test_a_time_zone_that_is_a_folder_or_a_path_is_a_row_rejection(app, zone):
    report = run(f"email,timezone\na@example.com,{zone}\nb@example.com,Europe/Berlin\n")
    [rejected] = report["rejected"]
    assert rejected["line"] == 2 and "not an IANA time zone" in rejected["reason"]
    assert sorted(people()) == ["b@example.com"]


def test_text_that_folds_longer_than_its_column_imports_and_matches_a_rule(app):
    from core.directory import audiences
    long_ss, ligature = "ß" * 500, "\ufdfa" * 100  # fold to 1,000 and 1,800 characters
    report = run(f"email,Motto,Blessing\na@example.com,{long_ss},{ligature}\n")
    assert report["counts"]["created"] == 1, report["rejected"]
    with db.session_scope() as s:
        folded = dict(s.execute(select(PersonAttribute.key, PersonAttribute.folded)).all())
        assert {k: len(v) for k, v in folded.items()} == {"Motto": 500, "Blessing": 500}
        rule = {"conditions": [{"field": "Motto", "op": "equals", "value": long_ss}]}
        assert len(s.scalars(audiences.people(rule, db=s)).all()) == 1
    with db.session_scope() as s:  # one person at a time (the people API) folds the same
        person, _ = directory.upsert(s, {"email": "b@example.com",
                                         "demographics": {"Motto": "ẞ" * 500}})
        assert [len(a.folded) for a in person.attributes] == [500]


def test_every_core_cell_longer_than_its_column_is_a_row_rejection(app):
    cells = {"Employee ID": "E" * 101, "Full Name": "N" * 201, "Mobile": "1" * 41,
             "Slack ID": "U" * 41, "Teams ID": "T" * 201, "Time Zone": "Z" * 65,
             "Manager": "m" * 321, "Work Email": "a" * 310 + "@example.com"}
    for header, text in cells.items():
        report = run(f"Work Email,{header}\nok@example.com,{text}\n" if header != "Work Email"
                     else f"Work Email\n{text}\n")
        [rejected] = report["rejected"]
        assert header in rejected["reason"] and "longer than" in rejected["reason"], header
    # no name: the email stands in for it, cut to the name's 200 characters
    long_email = "b" * 300 + "@example.com"
    assert run(f"Work Email\n{long_email}\n")["counts"]["created"] == 1
    assert people()[long_email].name == long_email[:200]


def test_candidate_is_text_and_a_placeholder_in_a_date_column_is_blank(app):
    text = ("email,Candidate,Mandate,Last Update,Hire Date\n"
            "a@example.com,yes,Board,last week,N/A\n"
            "b@example.com,no,None,-,TBD\n"
            "c@example.com,no,,,2024-03-12\n")
    report = run(text)
    assert report["counts"]["created"] == 3 and report["rejected"] == []
    everyone = people()
    assert everyone["a@example.com"].demographics == {
        "Candidate": "yes", "Mandate": "Board", "Last Update": "last week"}
    assert everyone["b@example.com"].demographics == {
        "Candidate": "no", "Mandate": "None", "Last Update": "-"}
    assert everyone["c@example.com"].demographics == {"Candidate": "no",
                                                      "Hire Date": "2024-03-12"}
    # a placeholder clears a date imported before, as a blank cell does
    run("email,Hire Date\nc@example.com,n/a\n")
    assert people()["c@example.com"].demographics == {"Candidate": "no"}


def test_a_blank_header_over_blank_cells_is_ignored(app):
    report = run("email,,Country,\na@example.com,,Spain,\n")
    assert report["counts"]["created"] == 1
    assert people()["a@example.com"].demographics == {"Country": "Spain"}


def test_a_record_spanning_lines_keeps_its_physical_line(app):
    text = ('email,name,Notes\n'
            'a@example.com,A,"two\nlines"\n'
            'bad,B,x\n')
    report = run(text)
    assert report["rejected"][0]["line"] == 4


def test_unknown_manager_and_a_cycle_import_without_the_link_and_are_listed(app):
    text = """employee_id,email,manager
E1,a@example.com,E404
E2,b@example.com,E3
E3,c@example.com,E2
E4,d@example.com,E4
E5,e@example.com,E3
"""
    report = run(text)

    assert report["counts"]["created"] == 5 and not report["rejected"]
    unresolved = {u["line"]: u["reason"] for u in report["unresolved"]}
    assert "unknown manager 'E404'" in unresolved[2]
    assert unresolved[3].startswith("manager cycle") and unresolved[4].startswith("manager cycle")
    assert "own manager" in unresolved[5]
    assert 6 not in unresolved
    assert managers() == {"E1": None, "E2": None, "E3": None, "E4": None, "E5": "E3"}
    with db.session_scope() as s:
        status = hierarchy.status(s)
    assert status["validated"] is False and status["unresolved_count"] == 4
    assert status["links"] == 1 and status["with_manager_value"] == 5


def test_reimporting_the_same_file_changes_nothing(app):
    run(ORG)
    before = {k: (p.id, p.name, p.phone, p.manager_id, p.demographics)
              for k, p in people().items()}
    with db.session_scope() as s:
        attribute_ids = sorted(s.scalars(select(PersonAttribute.id)))

    report = run(ORG)

    assert report["counts"]["unchanged"] == 4
    assert report["counts"]["created"] == report["counts"]["updated"] == 0
    assert report["changes"] == [] and report["hierarchy"]["links_changed"] == 0
    assert {k: (p.id, p.name, p.phone, p.manager_id, p.demographics)
            for k, p in people().items()} == before
    with db.session_scope() as s:  # demographics not rewritten: the same rows
        assert sorted(s.scalars(select(PersonAttribute.id))) == attribute_ids


def test_a_change_is_reported_with_its_fields_and_written(app):
    run(ORG)
    changed = ORG.replace("Rachel Kim,", "Rachel Kim-Park,").replace(
        "United States,Sales", "United States,Marketing")

    report = run(changed)

    assert report["counts"]["updated"] == 1 and report["counts"]["unchanged"] == 3
    [change] = report["changes"]
    assert change["action"] == "updated" and change["line"] == 4
    assert change["fields"] == {"name": ["Rachel Kim", "Rachel Kim-Park"],
                                "Department": ["Sales", "Marketing"]}
    assert people()["E3"].demographics["Department"] == "Marketing"


def test_a_blank_phone_cell_removes_the_number_and_other_blank_core_cells_keep_theirs(app):
    run(ORG)
    with db.session_scope() as s:
        s.scalar(select(Person).where(Person.employee_id == "E2")).slack_user_id = "U2"
    blank = ORG.replace("+49 30 23125 002,Europe/Berlin", ",")  # E2: blank phone and zone

    report = run(blank.replace("Time Zone", "Slack ID").replace(",Europe/Berlin,", ",,"))

    e2 = people()["E2"]
    assert e2.phone is None and e2.timezone == "Europe/Berlin" and e2.slack_user_id == "U2"
    assert people()["E1"].phone == "+493023125001"  # a phone in the cell stays
    assert {"action": "updated", "line": 3, "employee_id": "E2",
            "email": "daniel@northwind.example",
            "fields": {"phone": ["+493023125002", None]}} in report["changes"]
    # a file without a phone column leaves every number alone
    run("Employee ID,Work Email\nE1,miriam@northwind.example\n")
    assert people()["E1"].phone == "+493023125001"


def test_a_dry_run_reports_what_would_change_and_writes_nothing(app):
    run(ORG)
    changed = ORG.replace("Engineering,\n", "Design,\n") + \
        "E5,New Person,new@northwind.example,,,E1,Germany,Sales,2024-05-01\n"

    report = run(changed, dry_run=True)

    assert report["dry_run"] is True
    assert report["counts"]["created"] == 1 and report["counts"]["updated"] == 1
    assert {c["action"] for c in report["changes"]} == {"created", "updated"}
    assert sorted(people()) == ["E1", "E2", "E3", "E4"]
    assert people()["E4"].demographics["Department"] == "Engineering"


def test_full_mode_deactivates_people_missing_and_reactivates_them(app):
    run(ORG)
    without_rachel = "\n".join(line for line in ORG.splitlines() if "E3," not in line)

    merged = run(without_rachel)
    assert merged["counts"]["deactivated"] == 0 and people()["E3"].active

    full = run(without_rachel, mode="full")
    assert full["counts"]["deactivated"] == 1
    assert {"action": "deactivated", "line": None, "employee_id": "E3",
            "email": "rachel@northwind.example",
            "fields": {"active": [True, False]}} in full["changes"]
    assert not people()["E3"].active and people()["E3"].email  # kept, not deleted

    again = run(ORG, mode="full")
    assert again["counts"]["reactivated"] == 1 and again["counts"]["deactivated"] == 0
    assert all(p.active for p in people().values())


def test_a_full_import_with_every_row_rejected_deactivates_nobody(app):
    run(ORG)
    report = run("email,name\nnot-an-email,X\n", mode="full")
    assert report["counts"]["deactivated"] == 0 and all(p.active for p in people().values())


def test_a_full_import_keeps_people_whose_row_was_rejected_active(app):
    run(ORG)
    text = ORG.replace("America/New_York", "Mars/Olympus").replace(  # E3: a bad time zone
        "E4,Sofía Marín,sofia@", "E4,Sofía Marín,daniel@")  # E4: another person's email
    text += "E1,Miriam Again,other@northwind.example,,,,,,\n"  # a duplicate of E1

    report = run(text, mode="full")

    assert report["counts"]["rejected"] == 3 and report["counts"]["deactivated"] == 0
    assert all(p.active for p in people().values())


def test_the_hierarchy_falls_back_to_a_demographic(app):
    text = """email,Manager,Manager Email
boss@example.com,,
amy@example.com,Boss Person,boss@example.com
ben@example.com,Amy A.,amy@example.com
"""
    report = run(text)
    assert report["hierarchy"]["validated"] is False
    assert len(report["unresolved"]) == 2

    with db.session_scope() as s:
        result = hierarchy.set_source(s, "demographic", "manager email")
    assert result["demographic"] == "Manager Email" and result["validated"] is True
    assert managers() == {"boss@example.com": None, "amy@example.com": "boss@example.com",
                          "ben@example.com": "amy@example.com"}
    # a later import rebuilds the links from the chosen source
    assert run(text)["hierarchy"]["source"] == "demographic"
    assert managers()["ben@example.com"] == "amy@example.com"

    with db.session_scope() as s:
        with pytest.raises(hierarchy.NoSuchDemographic):
            hierarchy.set_source(s, "demographic", "Boss")
        hierarchy.set_source(s, "manager_column")
    assert managers()["ben@example.com"] is None


def test_json_in_both_shapes_with_nested_demographics(app):
    listed = [{"employee_id": 7, "email": "x@example.com", "name": "X",
               "demographics": {"Country": "Japan", "End Date": "March 12, 2025"}},
              {"employee_id": "8", "email": "y@example.com", "Teams ID":
               "0F8FAD5B-D9CB-469F-A165-70867728950E", "Slack ID": "U123"}]
    report = run(json.dumps(listed), name="people.json")
    assert report["counts"]["created"] == 2
    everyone = people()
    assert everyone["7"].demographics == {"Country": "Japan", "End Date": "2025-03-12"}
    assert everyone["8"].aad_object_id == "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert everyone["8"].slack_user_id == "U123"

    wrapped = run(json.dumps({"people": [{"email": "z@example.com", "Teams ID": "29:abc"}]}),
                  name="export")  # no extension: told by its content
    assert wrapped["counts"]["created"] == 1 and people()["z@example.com"].teams_user_id == "29:abc"
    assert run(json.dumps([{"email": "bad"}]), name="p.json")["rejected"][0]["line"] == 2


def test_semicolons_tabs_and_a_bom_are_read(app):
    run("\ufeffE-Mail;Name;Birth Date\nA@Example.com;A;12.03.1990\n".encode())
    run("email\tname\tStart Date\nb@example.com\tB\t12 Mar 2024 09:00\n")
    everyone = people()
    assert everyone["a@example.com"].demographics == {"Birth Date": "1990-03-12"}
    assert everyone["b@example.com"].demographics == {"Start Date": "2024-03-12"}


@pytest.mark.parametrize("data, reason", [
    (b"", "no header row"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b'{"people": 3}', "list of people"),
    (b"[1, 2]", "must be an object"),
    (b"[{", "not valid JSON"),
    (b'[{"email": "a@example.com", "n": ' + b"9" * 5000 + b"}]", "number too long"),
    (b"[" * 100_000, "nested too deeply"),
    (b"Ann,ann@example.com\nBob,bob@example.com\n", "header row"),
    (b"email,Email\na@example.com,a@example.com\n", "same column"),
    (b"email,,Country\na@example.com,,Spain\nb@example.com,Sales,Spain\n",
     "column 2 has no header but holds values \\(line 3\\)"),
    (b'[{"email": "a@example.com", " ": "Sales"}]', "blank key"),
    (b'[{"email": "a@example.com", "": null}]', "blank key"),
    (b"email,Cost\x00Centre\na@example.com,1\n", "column 2 .*NUL"),
    (b'[{"email": "a@example.com", "Team\\ud800": "x"}]', "column 2 .*lone surrogate"),
])
def test_an_unreadable_file_is_refused_whole(app, data, reason):
    with pytest.raises(imports.Unreadable, match=reason):
        imports.mapping(imports.read(data).headers)


# ---- the API ---------------------------------------------------------------------------

def upload(api, data: bytes, name: str = "people.csv", query: str = ""):
    return api.client.post(f"/api/v1/directory/import{query}", headers=api.headers,
                           data={"file": (io.BytesIO(data), name)},
                           content_type="multipart/form-data")


def test_the_api_imports_a_multipart_file_with_a_dry_run_first(api):
    dry = upload(api, ORG.encode(), query="?dry_run=1")
    assert dry.status_code == 200, dry.get_json()
    assert dry.get_json()["counts"]["created"] == 4 and people() == {}

    done = upload(api, ORG.encode(), query="?mode=full")
    assert done.status_code == 200 and done.get_json()["counts"]["created"] == 4
    assert sorted(people()) == ["E1", "E2", "E3", "E4"]
    with db.session_scope() as s:
        [entry] = s.scalars(select(AuditLog).where(AuditLog.action == "directory.import"))
        assert entry.detail["created"] == 4 and entry.detail["mode"] == "full"


def test_the_api_imports_a_json_body(api):
    resp = api.post("/directory/import", {"people": [
        {"Work Email": "a@example.com", "Full Name": "A", "Country": "Spain"}]})
    assert resp.status_code == 200, resp.get_json()
    assert people()["a@example.com"].demographics == {"Country": "Spain"}

    raw = api.client.post("/api/v1/directory/import?dry_run=true", headers=api.headers,
                          data=ORG.encode(), content_type="text/csv")
    assert raw.status_code == 200 and raw.get_json()["counts"]["created"] == 4
    created = next(c for c in raw.get_json()["changes"] if c["employee_id"] == "E2")
    assert created["fields"]["Start Date"] == [None, "2019-03-04"]


@pytest.mark.parametrize("send, reason", [
    ({"data": {"file": (io.BytesIO(b"name\nA\n"), "p.csv")}}, "no email or employee id"),
    ({"data": {"file": (io.BytesIO(b"\xff\xfe"), "p.csv")}}, "UTF-8"),
    ({"data": {"other": "x"}}, "file"),
    ({"json": {"people": "nope"}}, "list of people"),
    ({"data": b'[{"email": "a@b.co", "\\ud800": "x"}]', "content_type": "application/json"},
     "column 2 ('\\ud800')"),
    ({"data": b"email,A\x00\na@b.co,x\n", "content_type": "text/csv"}, "NUL"),
    ({"data": b"[" * 100_000, "content_type": "application/json"}, "nested too deeply"),
    ({"data": b'{"people": [{"email": "a@b.co", "n": ' + b"1" * 5000 + b"}]}",
      "content_type": "application/json"}, "number too long"),
    ({"data": b"[" * 100_000, "content_type": "text/csv"}, "at most 100 characters"),
    ({"data": {"file": (io.BytesIO(b"[" * 100_000), "p.json")}}, "nested too deeply"),
    ({"data": {"file": (io.BytesIO(b"email,\na@b.co,x\n"), "p.csv")}}, "column 2 has no header"),
    ({"data": b"a=b", "content_type": "application/x-www-form-urlencoded"}, "multipart"),
])
def test_the_api_refuses_an_unreadable_upload_with_400(api, send, reason):
    resp = api.client.post("/api/v1/directory/import", headers=api.headers, **send)
    assert resp.status_code == 400
    assert reason in resp.get_json()["error"]["message"]


def test_the_api_takes_files_beyond_the_usual_body_limit(make_app):
    from tests.conftest import ADMIN_TOKEN
    from tests.support.factories import ApiClient

    api = ApiClient(make_app(import_max_bytes=3 * 1024 * 1024).test_client(), ADMIN_TOKEN)
    rows = "".join(f"E{i},Person {i},p{i}@example.com,,,,Germany,Sales,\n" for i in range(20000))
    data = (HEADER + "\n" + rows).encode()
    assert len(data) > 1024 * 1024
    resp = upload(api, data)
    assert resp.status_code == 200 and resp.get_json()["counts"]["created"] == 20000
    assert upload(api, data * 3).status_code == 413
    assert api.post("/people", {"name": "x" * 200, "email": "a@example.com",
                                "demographics": {"k": "v" * 500} | {
                                    str(i): "v" * 500 for i in range(3000)}}).status_code == 413


def test_the_hierarchy_api_reads_and_switches_the_source(api):
    upload(api, b"email,Manager,Manager Email\nb@example.com,,\na@example.com,Bea,b@example.com\n")
    status = api.get("/directory/hierarchy").get_json()
    assert status["source"] == "manager_column" and status["validated"] is False
    assert status["unresolved"][0]["email"] == "a@example.com"

    put = api.client.put("/api/v1/directory/hierarchy", headers=api.headers,
                         json={"source": "demographic", "demographic": "Manager Email"})
    assert put.status_code == 200 and put.get_json()["validated"] is True
    assert api.get("/directory/hierarchy").get_json()["links"] == 1
    nobody = api.client.put("/api/v1/directory/hierarchy", headers=api.headers,
                            json={"source": "demographic", "demographic": "Skip Level"})
    assert nobody.status_code == 422 and "Skip Level" in nobody.get_json()["error"]["message"]
    with db.session_scope() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action == "directory.hierarchy")) == 1


def test_upsert_matches_an_employee_id_before_the_email(api):
    first = api.post("/people", {"name": "A", "email": "a@example.com", "employee_id": "E1"})
    moved = api.post("/people", {"name": "A", "email": "a.new@example.com", "employee_id": "E1"})
    assert first.status_code == 201 and moved.status_code == 200
    assert moved.get_json()["id"] == first.get_json()["id"]
    assert moved.get_json()["email"] == "a.new@example.com"
    taken = api.post("/people", {"name": "B", "email": "a.new@example.com", "employee_id": "E2"})
    assert taken.status_code == 422 and "email" in taken.get_json()["error"]["message"]


# ---- the CLI ---------------------------------------------------------------------------

def test_the_cli_imports_and_prints_each_rejected_and_unresolved_line(app, tmp_path, capsys):
    path = tmp_path / "people.csv"
    path.write_text(ORG + "E9,Bad,bad-email,,,,,,\nE10,Lost,lost@example.com,,,E404,,,\n")

    assert cli.main(["directory", "import", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dry run, nothing written: 5 created") and people() == {}
    assert "line 6: rejected:" in out and "line 7: imported without a manager link" in out

    assert cli.main(["directory", "import", str(path), "--full"]) == 0
    assert len(people()) == 5

    assert cli.main(["directory", "hierarchy"]) == 0
    assert "source: manager_column; 3 links; not validated; 1 unresolved" in \
        capsys.readouterr().out


def test_the_cli_exits_1_when_nothing_imports(app, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("email\nnope\n")
    assert cli.main(["directory", "import", str(bad)]) == 1
    assert "line 2: rejected" in capsys.readouterr().out
    unreadable = tmp_path / "x.csv"
    unreadable.write_bytes(b"\xff\xfe")
    assert cli.main(["directory", "import", str(unreadable)]) == 1
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000)
    assert cli.main(["directory", "import", str(deep)]) == 1
    assert "nested too deeply" in capsys.readouterr().err
    assert cli.main(["directory", "import", str(tmp_path / "missing.csv")]) == 1
    assert cli.main(["directory", "hierarchy", "--source", "demographic",
                     "--demographic", "Nope"]) == 1


def test_the_sample_file_imports_the_demo_org_cleanly_over_the_demo_directory(app):
    from core import directory, library

    sample = (library.HERE / "demo_people.csv").read_bytes()
    assert run(sample)["counts"]["created"] == 30  # an empty directory

    with db.session_scope() as s:  # `make run`'s directory, then HR's file over it
        s.execute(PersonAttribute.__table__.delete())
        s.execute(Person.__table__.delete())
    with db.session_scope() as s:
        assert directory.load_demo(s, library.demo_org()) == 30
    report = run(sample, mode="full")

    assert report["counts"]["created"] == 0 and not report["rejected"]
    assert report["counts"]["deactivated"] == 0 and report["hierarchy"]["validated"]
    assert report["hierarchy"]["links"] == 29
    with db.session_scope() as s:
        engineering = s.scalar(select(func.count()).select_from(PersonAttribute).where(
            PersonAttribute.key == "Department", PersonAttribute.folded == "engineering"))
    assert engineering > 0


def test_migration_0011_gives_links_made_before_manager_ref_their_value(tmp_path):
    """A link set before 0010 gets its manager_ref, so the rebuild after the first import
    (of a file that may not mention those people) keeps it."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    cfg = Config(str(db.ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(db.ROOT / "migrations"))
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0010")
        for pid, email, manager in [(1, "boss@example.com", None), (2, "amy@example.com", 1)]:
            conn.execute(text("INSERT INTO person (id, name, email, timezone, manager_id, "
                              "active, created_at) VALUES (:id, 'P', :email, 'UTC', :m, 1, "
                              "CURRENT_TIMESTAMP)"), {"id": pid, "email": email, "m": manager})
        command.upgrade(cfg, "0011")
        got = conn.execute(text("SELECT manager_ref FROM person ORDER BY id")).scalars().all()
    assert got == [None, "boss@example.com"]
