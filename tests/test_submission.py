"""Reading participant files: tolerant of what charities send, clear about what is wrong."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from helpers.errors import SubmissionError
from helpers.submission import parse_date, read_submission

REF = dt.date(2024, 12, 31)
HEADER = "Surname,Forename,Date of Birth,Gender,PNC Number,Programme Start,Programme End\n"


def _write(tmp_path, text: str, name: str = "list.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _read(tmp_path, text: str, **kw):
    return read_submission(_write(tmp_path, text), reference_date=REF, **kw)


def test_a_clean_file_is_read_with_every_field_parsed(tmp_path):
    sub = _read(tmp_path, HEADER + "Smith,John,03/04/1985,M,2001/0000042X,01/02/2020,30/04/2020\n")
    row = sub.rows.iloc[0]
    assert (row["surname"], row["forename"], row["sex"]) == ("Smith", "John", "M")
    assert row["date_of_birth"] == dt.date(1985, 4, 3)  # day first, as in the UK
    assert row["programme_start"] == dt.date(2020, 2, 1)
    assert row["row"] == 2 and row["valid"]


def test_headings_in_any_case_spacing_and_common_aliases_are_accepted(tmp_path):
    text = "LAST NAME; first_name ;D.O.B.;sex;Start date\nJones;Ann;1990-05-06;female;6 Mar 2021\n"
    sub = _read(tmp_path, text)
    assert sub.columns["surname"] == "LAST NAME"
    assert sub.rows.iloc[0]["date_of_birth"] == dt.date(1990, 5, 6)
    assert sub.rows.iloc[0]["sex"] == "F"
    assert sub.rows.iloc[0]["programme_start"] == dt.date(2021, 3, 6)


@pytest.mark.parametrize(
    ("text", "birth", "expected"),
    [
        ("03/04/1985", True, dt.date(1985, 4, 3)),
        ("3/4/85", True, dt.date(1985, 4, 3)),
        ("03/04/15", True, dt.date(2015, 4, 3)),
        ("03/04/19", False, dt.date(2019, 4, 3)),
        ("1985-04-03", True, dt.date(1985, 4, 3)),
        ("03.04.1985", True, dt.date(1985, 4, 3)),
        ("3 April 1985", True, dt.date(1985, 4, 3)),
        ("03-Apr-1985", True, dt.date(1985, 4, 3)),
        ("03/04/1985 00:00", True, dt.date(1985, 4, 3)),
        ("31048", True, dt.date(1985, 1, 1)),  # an Excel serial number
    ],
)
def test_uk_dates_are_read_the_usual_ways(text, birth, expected):
    assert parse_date(text, birth=birth, reference=REF) == (expected, None)


def test_two_digit_birth_years_never_land_in_the_future():
    assert parse_date("01/01/30", birth=True, reference=REF)[0] == dt.date(1930, 1, 1)


@pytest.mark.parametrize(
    ("cells", "column", "severity", "problem"),
    [
        ("Smith,John,31/02/1990,M,,01/02/2020,", "Date of Birth", "invalid", "date of birth '31/02/1990' is not a real date"),
        ("Smith,John,01/02/1990,M,,TBC,", "Programme Start", "invalid", "programme start 'TBC' is not a date"),
        ("Smith,John,01/02/1990,M,,,", "Programme Start", "invalid", "no programme start date"),
        (",John,01/02/1990,M,,01/02/2020,", "Surname", "invalid", "surname is empty"),
        ("Smith,John,01/02/2020,M,,01/02/2021,", "Date of Birth", "invalid", "not plausible"),
        ("Smith,John,,M,,01/02/2020,", "Date of Birth", "warning", "no date of birth"),
        ("Smith,John,01/02/1990,X,,01/02/2020,", "Gender", "warning", "sex 'x' not recognised"),
        ("Smith,John,01/02/1990,M,2001/0000042A,01/02/2020,", "PNC Number", "warning", "wrong check letter"),
        ("Smith,John,01/02/1990,M,12345,01/02/2020,", "PNC Number", "warning", "not in the form"),
        ("Smith,John,01/02/1990,M,,01/02/2020,01/01/2020", "Programme End", "warning", "before programme start"),
        ("Smith,John,01/02/1990,M,,01/02/2026,", "Programme Start", "invalid", "after the records extract date"),
    ],
)  # fmt: skip
def test_each_row_problem_names_the_row_the_column_and_the_fix(
    tmp_path, cells, column, severity, problem
):
    sub = _read(tmp_path, HEADER + "Good,Person,01/01/1980,F,,01/01/2020,\n" + cells + "\n")
    found = sub.problems[sub.problems["row"] == 3]
    assert len(found) >= 1, sub.problems
    hit = found[found["problem"].str.contains(problem, regex=False)]
    assert len(hit) == 1, found
    assert hit.iloc[0]["column"] == column
    assert hit.iloc[0]["severity"] == severity
    assert hit.iloc[0]["fix"]
    assert sub.rows.set_index("row").loc[3, "valid"] == (severity == "warning")
    assert sub.rows.set_index("row").loc[2, "valid"]


def test_problem_summary_counts_without_showing_any_cell(tmp_path):
    sub = _read(tmp_path, HEADER + "Smith,John,31/02/1990,M,,01/02/2020,\n")
    summary = sub.problem_summary()
    assert "31/02/1990" not in summary.to_string()
    assert summary.iloc[0]["rows"] == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("list.csv", "", "is empty"),
        ("list.csv", HEADER, "has a header but no participants"),
        ("list.xls", HEADER, "send the list as .csv"),
        ("list.csv", "Name,DOB\nJohn Smith,01/01/1980\n", "no column for surname, forename"),
        ("list.csv", "Surname,Last name,Forename,DOB,Sex,Start\nA,B,C,01/01/1980,M,01/01/2020\n", "both look like surname"),
        ("list.csv", "Surname,Forename,DOB,Sex\nA,C,01/01/1980,M\n", "no programme date column"),
    ],
)  # fmt: skip
def test_unusable_files_stop_with_a_clear_message(tmp_path, name, content, message):
    with pytest.raises(SubmissionError, match=message):
        read_submission(_write(tmp_path, content, name), reference_date=REF)


def test_missing_file_and_wrong_encoding_are_explained(tmp_path):
    with pytest.raises(SubmissionError, match="does not exist"):
        read_submission(tmp_path / "nope.csv", reference_date=REF)
    path = _write(tmp_path, HEADER + "Bront\u00eb,Zo\u00eb,01/01/1980,F,,01/01/2020,\n",
                  encoding="cp1252")  # fmt: skip
    with pytest.raises(SubmissionError, match=r"not utf-8 text .*line 2.*CSV UTF-8"):
        read_submission(path, reference_date=REF)
    sub = read_submission(path, reference_date=REF, encoding="cp1252")
    assert sub.rows.iloc[0]["surname"] == "Bront\u00eb"
    with pytest.raises(SubmissionError, match="is not an encoding name"):
        read_submission(path, reference_date=REF, encoding="klingon")


def test_excel_files_with_real_date_cells_and_named_sheets(tmp_path):
    frame = pd.DataFrame({
        "Surname": ["Smith"], "Forename": ["John"], "DOB": [pd.Timestamp("1985-04-03")],
        "Sex": ["M"], "Programme start": [pd.Timestamp("2020-02-01")],
    })  # fmt: skip
    path = tmp_path / "list.xlsx"
    with pd.ExcelWriter(path) as writer:
        frame.to_excel(writer, sheet_name="Participants", index=False)
    sub = read_submission(path, reference_date=REF)
    assert sub.rows.iloc[0]["date_of_birth"] == dt.date(1985, 4, 3)
    with pytest.raises(SubmissionError, match="no sheet 'Other'.*Participants"):
        read_submission(path, sheet="Other", reference_date=REF)
    (tmp_path / "broken.xlsx").write_bytes(b"not a zip file")
    with pytest.raises(SubmissionError, match="could not be opened as an Excel workbook"):
        read_submission(tmp_path / "broken.xlsx", reference_date=REF)
