"""How an HR export is read: header spellings, dates in the usual formats, delimiters."""

from __future__ import annotations

import pytest

from core.directory.imports import (
    Unreadable,
    date_order,
    is_date_column,
    mapping,
    parse_date,
    read,
)


@pytest.mark.parametrize("value, order, iso", [
    ("2024-03-12", "DMY", "2024-03-12"),
    ("2024-03-12T09:30:00Z", "DMY", "2024-03-12"),
    ("2024-03-12 09:30", "MDY", "2024-03-12"),
    ("2024/3/2", "DMY", "2024-03-02"),
    ("12/03/2024", "DMY", "2024-03-12"),
    ("03/12/2024", "MDY", "2024-03-12"),
    ("3/12/24", "MDY", "2024-03-12"),
    ("12.03.2024", "MDY", "2024-03-12"),  # dotted: day first, whatever the order
    ("12-03-2024 17:45:10", "DMY", "2024-03-12"),
    ("12 Mar 2024", "MDY", "2024-03-12"),
    ("12-Mar-2024", "DMY", "2024-03-12"),
    ("12 March, 2024 10:00 AM", "DMY", "2024-03-12"),
    ("March 12, 2024", "DMY", "2024-03-12"),
    ("Sept 1 2024", "DMY", "2024-09-01"),
    ("Tue, Mar 12, 2024", "DMY", "2024-03-12"),
    ("1st April 2024", "DMY", "2024-04-01"),
])
def test_dates_in_the_usual_hr_formats_become_iso(value, order, iso):
    assert parse_date(value, order) == iso


@pytest.mark.parametrize("value", ["2024-02-30", "13/13/2024", "yesterday", "12 Foo 2024",
                                   "2024-03", "31/04/2024", ""])
def test_what_is_no_date_is_refused(value):
    with pytest.raises(ValueError):
        parse_date(value, "DMY")


@pytest.mark.parametrize("value", [
    "2024-01-01 10:00" + " " * 30 + "utc",  # a date once the padding is read over
    "2024-01-01 10:00" + " " * 16_000 + "x",  # crafted: took the patterns 12 s
    "12/03/2024" + "\t" * 5_000 + "x",
    "March" + " " * 5_000 + "12, 2024",
])
def test_a_cell_longer_than_40_characters_is_no_date(value):
    with pytest.raises(ValueError, match="longer than 40"):
        parse_date(value, "DMY")
    assert date_order([value, "12/03/2024"], "DMY") == "DMY"


@pytest.mark.parametrize("value", ["2024-01-01 10:00   x", "12 March  2024 10:00  pm  utc x",
                                   "Tue,  Mar 12, 2024x"])
def test_what_only_starts_like_a_date_is_refused(value):
    with pytest.raises(ValueError, match="is not a date"):
        parse_date(value, "DMY")


@pytest.mark.parametrize("header", ["Start Date", "End Date", "Date of Birth", "Hire Date",
                                    "Date Hired", "start_date", "StartDate", "hiredate", "DATE"])
def test_a_column_with_the_word_date_holds_dates(header):
    assert is_date_column(header)


@pytest.mark.parametrize("header", ["Candidate", "Mandate", "Last Update", "Updated",
                                    "Validated By", "Dated Notes"])
def test_a_word_ending_in_date_is_no_date_column(header):
    assert not is_date_column(header)


def test_a_columns_order_comes_from_its_values_else_the_setting():
    assert date_order(["01/02/2024", "25/12/2023"], "MDY") == "DMY"  # 25 can only be a day
    assert date_order(["01/02/2024", "12/25/2023"], "DMY") == "MDY"  # 25 can only be a day
    assert date_order(["01/02/2024", "", "2024-01-01"], "MDY") == "MDY"
    assert date_order(["01/02/2024"], "DMY") == "DMY"
    assert date_order(["31.12.2024", "01/02/2024"], "MDY") == "MDY"  # dotted says nothing


def test_headers_map_without_case_spaces_or_underscores():
    fields, demographics = mapping([
        "Full Name", "WORK_EMAIL", "Employee Number", "Mobile", "Slack User ID", "Teams ID",
        "time zone", "Manager ID", "Country", "Manager Email", "Start Date"])
    assert fields == {"name": "Full Name", "email": "WORK_EMAIL",
                      "employee_id": "Employee Number", "phone": "Mobile",
                      "slack_user_id": "Slack User ID", "teams": "Teams ID",
                      "timezone": "time zone", "manager": "Manager ID"}
    assert demographics == ["Country", "Manager Email", "Start Date"]


@pytest.mark.parametrize("headers, reason", [
    (["Name", "Country"], "no email or employee id column"),
    (["Email", "Work Email"], "both give the email"),
    (["Email", "e_mail"], "same column"),
    (["Email", "x" * 101], "at most 100"),
])
def test_headers_that_cannot_work_are_refused(headers, reason):
    with pytest.raises(Unreadable, match=reason):
        mapping(headers)


@pytest.mark.parametrize("data", [
    b"email,name\na@example.com,Ann\n",
    b"\xef\xbb\xbfemail;name\r\na@example.com;Ann\r\n",
    b"email\tname\na@example.com\tAnn\n",
    b"\n\nemail,name\n\na@example.com,Ann\n",
])
def test_csv_with_any_delimiter_bom_or_blank_lines(data):
    table = read(data, filename="people.csv")
    assert table.headers == ["email", "name"]
    [(line, row)] = table.rows
    assert row == {"email": "a@example.com", "name": "Ann"}
    assert line == (3 if data.startswith(b"\n\n") else 2)  # counted from the header


def test_json_is_told_from_csv_by_name_type_or_content():
    assert read(b'[{"email": "a@example.com"}]').rows == [(2, {"email": "a@example.com"})]
    assert read(b'{"people": [{"email": 1}]}', content_type="application/json").rows == [
        (2, {"email": "1"})]
    assert read(b"[email]\nx\n", filename="p.csv").headers == ["[email]"]
