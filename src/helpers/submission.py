"""Reading an organisation's participant file (CSV or Excel) and checking it row by row.

Charities send what their systems export: headers in any case and spacing, "DOB" or "Date of
birth", UK dates typed many ways, Excel dates, blank cells. The reader accepts all of that,
and every row it cannot use becomes a *problem* (row, column, what is wrong, what to do) rather
than a crash; invalid rows become attrition. Only problems with the file as a whole (missing,
empty, wrong encoding, required columns absent) stop the run.

Required per person (reference §1): surname, forename, date of birth, sex and at least one date
anchoring the programme (programme start, or release / sentence date). A missing date of birth
or sex is accepted with a warning: such people can still be found by PNC id or a distinctive
name, but they are less likely to be linked.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from helpers.errors import SubmissionError
from helpers.synth.names import pnc_check_letter

#: Canonical column → accepted headers (compared after lower-casing and removing punctuation).
ALIASES: dict[str, tuple[str, ...]] = {
    "surname": ("surname", "last name", "lastname", "family name", "second name"),
    "forename": ("forename", "forenames", "first name", "firstname", "given name",
                 "given names", "christian name"),
    "date_of_birth": ("date of birth", "dob", "d o b", "birth date", "birthdate",
                      "date birth"),
    "sex": ("sex", "gender"),
    "pnc_id": ("pnc", "pnc id", "pnc number", "pnc no", "pncid", "pnc ref"),
    "programme_start": ("programme start", "program start", "programme start date",
                        "program start date", "start date", "intervention start",
                        "date started", "start"),
    "programme_end": ("programme end", "program end", "programme end date",
                      "program end date", "end date", "intervention end", "date ended", "end"),
    "release_date": ("release date", "date of release", "release"),
    "sentence_date": ("sentence date", "conviction date", "date of sentence", "index date"),
    "prison_number": ("prison number", "prison no", "prisoner number", "noms number"),
}  # fmt: skip
REQUIRED = ("surname", "forename", "date_of_birth", "sex")
ANCHORS = ("programme_start", "release_date", "sentence_date")

_DATE_FORMATS = (
    "%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%d-%m-%y", "%d.%m.%Y", "%d.%m.%y", "%Y-%m-%d",
    "%Y/%m/%d", "%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%b-%y", "%d %b %y", "%Y%m%d",
)  # fmt: skip
_SEX = {"m": "M", "male": "M", "man": "M", "f": "F", "female": "F", "woman": "F"}
_PNC = re.compile(r"^(\d{2}|\d{4})/(\d{1,7})([A-Z])$")


@dataclass(frozen=True)
class Submission:
    """A participant file, parsed.

    Attributes
    ----------
    rows
        One row per data row: ``row`` (spreadsheet row number, header = 1), ``surname``,
        ``forename``, ``date_of_birth``, ``sex``, ``pnc_id``, ``programme_start``,
        ``programme_end``, ``anchor_date`` and ``valid`` (False when the row cannot be used).
    problems
        ``row``, ``column`` (as headed in the file), ``severity`` ('invalid' or 'warning'),
        ``problem``, ``value`` (the cell; personal data: keep restricted) and ``fix``.
    columns
        Canonical name → the header it was read from.
    """

    rows: pd.DataFrame
    problems: pd.DataFrame
    columns: dict[str, str]
    source: Path

    @property
    def valid_rows(self) -> pd.DataFrame:
        return self.rows[self.rows["valid"]].reset_index(drop=True)

    def problem_summary(self) -> pd.DataFrame:
        """Counts of each kind of problem, without any cell values (safe to publish)."""
        if self.problems.empty:
            return pd.DataFrame(columns=["column", "severity", "problem", "rows"])
        kind = self.problems["problem"].str.replace(r"'[^']*'", "'…'", regex=True)
        return (
            self.problems.assign(problem=kind)
            .groupby(["column", "severity", "problem"], as_index=False)
            .agg(rows=("row", "nunique"))
            .sort_values(["severity", "rows"], ascending=[True, False], ignore_index=True)
        )


def read_submission(
    path: str | Path,
    *,
    sheet: str = "",
    encoding: str = "utf-8",
    reference_date: dt.date | None = None,
) -> Submission:
    """Read and check a participant file; raise :class:`SubmissionError` if it is unusable.

    ``reference_date`` (the extract date) bounds plausible dates: nobody is born after it and
    two-digit years are read as the latest century that keeps a date of birth before it.
    """
    path = Path(path)
    raw = _read_table(path, sheet, encoding)
    columns = _map_columns(list(raw.columns), path)
    reference = reference_date or dt.date.today()
    rows, problems = _check_rows(raw, columns, reference)
    return Submission(rows=rows, problems=problems, columns=columns, source=path)


# --- the file ------------------------------------------------------------------------------


def _read_table(path: Path, sheet: str, encoding: str) -> pd.DataFrame:
    if not path.is_file():
        raise SubmissionError(f"{path} does not exist: check `submission` in the params YAML.")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        table = _read_excel(path, sheet)
    elif suffix in (".csv", ".txt"):
        table = _read_csv(path, encoding)
    else:
        raise SubmissionError(
            f"{path.name} is a {suffix or 'file without extension'}: send the list as .csv "
            "(UTF-8) or .xlsx (in Excel: File > Save As)."
        )
    table = table.dropna(how="all")
    table = table[~table.apply(lambda r: all(str(v).strip() == "" for v in r), axis=1)]
    if table.empty:
        raise SubmissionError(f"{path.name} has a header but no participants: nothing to analyse.")
    return table


def _read_csv(path: Path, encoding: str) -> pd.DataFrame:
    data = path.read_bytes()
    if not data.strip():
        raise SubmissionError(f"{path.name} is empty: export the participant list again.")
    try:
        text = data.decode("utf-8-sig" if encoding.lower().replace("_", "-") == "utf-8"
                           else encoding)  # fmt: skip
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SubmissionError(
            f"{path.name} is not {encoding} text (unreadable byte at line {line}). In Excel use "
            "File > Save As > 'CSV UTF-8', or set `submission_encoding: cp1252` if it came "
            "from an older Windows program."
        ) from exc
    except LookupError as exc:
        raise SubmissionError(f"`submission_encoding` {encoding!r} is not an encoding name "
                              "(use utf-8 or cp1252).") from exc  # fmt: skip
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
        sep = dialect.delimiter
    except csv.Error:
        sep = ","
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SubmissionError(f"{path.name} could not be read as a table ({exc}). Check that "
                              "every line has the same number of columns.") from exc  # fmt: skip


def _read_excel(path: Path, sheet: str) -> pd.DataFrame:
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise SubmissionError(f"{path.name} could not be opened as an Excel workbook ({exc}). "
                              "Save it again from Excel as .xlsx.") from exc  # fmt: skip
    name = sheet or book.sheet_names[0]
    if name not in book.sheet_names:
        raise SubmissionError(
            f"{path.name} has no sheet {name!r} (sheets: "
            f"{', '.join(book.sheet_names)}): set `submission_sheet`."
        )
    table = book.parse(name, dtype=object)
    return table.astype(object).where(table.notna(), "")


def _normalise_header(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", str(header).lower()).strip()


def _map_columns(headers: list[str], path: Path) -> dict[str, str]:
    lookup = {alias: canon for canon, aliases in ALIASES.items() for alias in aliases}
    found: dict[str, str] = {}
    problems = []
    for header in headers:
        canon = lookup.get(_normalise_header(header))
        if canon is None:
            continue
        if canon in found:
            problems.append(f"columns {found[canon]!r} and {header!r} both look like {canon}: "
                            "delete or rename one")  # fmt: skip
        found[canon] = header
    missing = [c for c in REQUIRED if c not in found]
    if missing:
        problems.append(
            f"no column for {', '.join(missing)} (found: {', '.join(map(str, headers))}). "
            f"Accepted headings: " + "; ".join(f"{c}: {ALIASES[c][0]!r}" for c in missing)
        )
    if not any(a in found for a in ANCHORS):
        problems.append("no programme date column: add 'Programme start' (or a 'Release date' "
                        "or 'Sentence date' column)")  # fmt: skip
    if problems:
        raise SubmissionError(problems, fix=f"Correct the headings in {path.name}.")
    return found


# --- the rows ------------------------------------------------------------------------------


def parse_date(value, *, birth: bool, reference: dt.date) -> tuple[dt.date | None, str | None]:
    """A date from a cell, UK day-first; returns (date, None) or (None, why not)."""
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    text = str(value).strip()
    if not text:
        return None, None
    text = re.sub(r"[T ]\d{1,2}:\d{2}(:\d{2})?$", "", text)  # Excel exports add a time
    if re.fullmatch(r"\d{5}(\.0)?", text):  # an Excel serial number
        return dt.date(1899, 12, 30) + dt.timedelta(days=int(float(text))), None
    for fmt in _DATE_FORMATS:
        try:
            parsed = dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
        if fmt.endswith("%y"):
            parsed = _century(parsed, birth, reference)
        return parsed, None
    if re.fullmatch(r"\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}", text):
        return None, f"'{text}' is not a real date"
    return None, f"'{text}' is not a date"


def _century(date: dt.date, birth: bool, reference: dt.date) -> dt.date:
    """Two-digit years: births in the latest century before the reference date; programme
    dates in the 2000s."""
    year = 2000 + date.year % 100
    if birth and dt.date(year, date.month, 1) > reference:
        year -= 100
    return date.replace(year=year)


def _check_rows(raw: pd.DataFrame, columns: dict[str, str], reference: dt.date):
    problems: list[dict] = []
    records = []
    for i, (_, cells) in enumerate(raw.iterrows()):
        row = i + 2  # spreadsheet numbering: the header is row 1
        get = {canon: cells[header] for canon, header in columns.items()}
        record, row_problems = _check_row(row, get, columns, reference)
        records.append(record)
        problems.extend(row_problems)
    rows = pd.DataFrame(records)
    rows["valid"] = ~rows["row"].isin({p["row"] for p in problems if p["severity"] == "invalid"})
    frame = pd.DataFrame(problems, columns=["row", "column", "severity", "problem", "value", "fix"])
    return rows, frame


def _check_row(row: int, get: dict, columns: dict[str, str], reference: dt.date):
    problems = []

    def flag(canon: str, severity: str, problem: str, fix: str) -> None:
        value = get.get(canon, "")
        problems.append({"row": row, "column": columns.get(canon, canon), "severity": severity,
                         "problem": problem, "value": str(value), "fix": fix})  # fmt: skip

    record = {"row": row}
    for canon in ("surname", "forename"):
        name = re.sub(r"\s+", " ", str(get.get(canon, ""))).strip()
        if not re.search(r"[^\W\d_]", name):
            flag(canon, "invalid", f"{canon} is empty" if not name else f"'{name}' is not a name",
                 f"enter the person's {canon}")  # fmt: skip
        record[canon] = name
    record["date_of_birth"] = _dob(get, flag, reference)
    record["sex"] = _sex(get, flag)
    record["pnc_id"] = _pnc(get, flag)
    _programme_dates(record, get, flag, reference)
    return record, problems


def _dob(get, flag, reference):
    dob, why = parse_date(get.get("date_of_birth", ""), birth=True, reference=reference)
    if why:
        flag("date_of_birth", "invalid", f"date of birth {why}", "correct it as DD/MM/YYYY")
        return None
    if dob is None:
        flag("date_of_birth", "warning", "no date of birth",
             "add it if known: without it the person may not be found")  # fmt: skip
    elif not dt.date(1900, 1, 1) <= dob <= reference - dt.timedelta(days=365 * 10):
        flag(
            "date_of_birth",
            "invalid",
            f"date of birth {dob:%d/%m/%Y} is not plausible "
            "(people in the records are at least 10)",
            "correct the date of birth",
        )
        return None
    return dob


def _sex(get, flag):
    value = str(get.get("sex", "")).strip().lower()
    if value in _SEX:
        return _SEX[value]
    flag("sex", "warning", "sex is missing" if not value else f"sex '{value}' not recognised",
         "use M or F")  # fmt: skip
    return None


def _pnc(get, flag):
    value = re.sub(r"\s+", "", str(get.get("pnc_id", ""))).upper()
    if not value:
        return None
    match = _PNC.match(value)
    if not match:
        flag("pnc_id", "warning", f"PNC id '{value}' is not in the form YYYY/NNNNNNNL",
             "check it; the person will be linked by name and date of birth")  # fmt: skip
        return None
    year, serial, letter = match.groups()
    canonical = f"{year}/{int(serial):07d}{letter}"
    if pnc_check_letter(canonical) != letter:
        flag("pnc_id", "warning", f"PNC id '{value}' has the wrong check letter",
             "check it; the person will be linked by name and date of birth")  # fmt: skip
        return None
    return canonical


def _programme_dates(record, get, flag, reference):
    for canon in (*ANCHORS, "programme_end"):
        date, why = parse_date(get.get(canon, ""), birth=False, reference=reference)
        if why:
            severity = "invalid" if canon == "programme_start" else "warning"
            flag(canon, severity, f"{canon.replace('_', ' ')} {why}", "enter it as DD/MM/YYYY")
        record[canon] = date
    anchor = next((record[a] for a in ANCHORS if record[a] is not None), None)
    others_given = any(get.get(a, "") for a in ANCHORS if a != "programme_start")
    if anchor is None and not others_given and not str(get.get("programme_start", "")).strip():
        flag("programme_start", "invalid", "no programme start date",
             "enter the date the person started the programme")  # fmt: skip
    if (
        record["programme_end"]
        and record["programme_start"]
        and (record["programme_end"] < record["programme_start"])
    ):
        flag("programme_end", "warning", "programme end is before programme start",
             "check whether the two dates are swapped")  # fmt: skip
    if anchor is not None and anchor > reference:
        flag("programme_start", "invalid", f"programme date {anchor:%d/%m/%Y} is after the "
             "records extract date", "check the date")  # fmt: skip
    record["anchor_date"] = anchor
