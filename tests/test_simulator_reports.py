"""The simulated reporting system: Decree 09/2019 periods, units in force, CSV and Excel alike."""

from __future__ import annotations

import csv
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from simulator.agencies import Agency, build_agencies
from simulator.calendar import WorkingCalendar
from simulator.counts import MonthlyCounts
from simulator.reports import COLUMNS, FAULT_KINDS, WorkbookWriter, write_reporting_system
from simulator.units import MERGER_DATE, load_region

WINDOW = (date(2025, 4, 1), date(2025, 9, 30))  # crosses the 1 July 2025 merger
SCALE, SEED, FAULT_RATE = 0.05, 11, 0.02
AS_OF = datetime(2025, 9, 30, 23, 59, 59)
BOM = b"\xef\xbb\xbf"
DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")
DATETIME = re.compile(r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$")
DETAIL = re.compile(r"^line (\d+), sheet (\d+) row (\d+): ")
STATUSES = ("Đã nộp", "Đã thay thế", "Chưa nộp")
(REGIME, REGIME_NAME, PERIOD, FROM, TO, UNIT, UNIT_NAME, INDICATOR, INDICATOR_NAME, MEASURE,
 VALUE, DEADLINE, SUBMITTED, VERSION, STATUS) = range(15)  # fmt: skip
ALWAYS_REQUIRED = (REGIME, REGIME_NAME, PERIOD, FROM, TO, UNIT, UNIT_NAME, INDICATOR,
                   INDICATOR_NAME, MEASURE, DEADLINE, STATUS)  # fmt: skip
ROMAN = {"I": 1, "II": 2, "III": 3, "IV": 4}


@dataclass
class Run:
    out: Path
    counts: MonthlyCounts


def _generate(out: Path, seed: int, fault_rate: float, on_day=None) -> Run:
    region = load_region("37")
    calendar = WorkingCalendar(2024, 2026)
    counts = write_reporting_system(out, region, build_agencies(region), calendar, seed, SCALE,
                                    *WINDOW, fault_rate=fault_rate, on_day=on_day)  # fmt: skip
    return Run(out, counts)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _generate(tmp_path_factory.mktemp("reports-clean"), SEED, 0.0)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _generate(tmp_path_factory.mktemp("reports-faulty"), SEED, FAULT_RATE)


# -- reading the exports the way a connector would ---------------------------------------------


def csv_files(out: Path) -> list[Path]:
    return sorted((out / "reports").glob("period=*/bao_cao_*.csv"))


def csv_lines(path: Path) -> list[tuple[int, bytes, list[str] | None]]:
    """(line number, raw bytes, fields or None when the line is not UTF-8) per data line."""
    raw = path.read_bytes()
    assert raw.startswith(BOM)
    lines = raw[len(BOM) :].split(b"\r\n")
    assert lines[-1] == b""
    assert next(csv.reader([lines[0].decode("utf-8")])) == list(COLUMNS)
    result = []
    for number, line in enumerate(lines[1:-1], start=2):
        try:
            fields = next(csv.reader([line.decode("utf-8")]))
        except UnicodeDecodeError:
            fields = None
        result.append((number, line, fields))
    return result


def from_cp1258(line: bytes) -> list[str]:
    return next(csv.reader([unicodedata.normalize("NFC", line.decode("cp1258"))]))


def _serial_to_datetime(serial: float) -> datetime:
    base = datetime(1899, 12, 31) if serial < 61 else datetime(1899, 12, 30)
    return base + timedelta(seconds=round(serial * 86400))


def read_workbook_stdlib(path: Path) -> dict[str, list[list[object]]]:
    """Sheets' rows (from row 1) of an .xlsx, with the standard library only."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    rel_ns = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    with zipfile.ZipFile(path) as archive:
        strings = [
            "".join(t.text or "" for t in si.iter(f"{{{ns['m']}}}t"))
            for si in ET.fromstring(archive.read("xl/sharedStrings.xml")).findall("m:si", ns)
        ]
        styles = ET.fromstring(archive.read("xl/styles.xml"))
        formats = {int(f.get("numFmtId")): f.get("formatCode")
                   for f in styles.iterfind("m:numFmts/m:numFmt", ns)}  # fmt: skip
        date_styles = set()
        for index, xf in enumerate(styles.iterfind("m:cellXfs/m:xf", ns)):
            number_format = int(xf.get("numFmtId", 0))
            if 14 <= number_format <= 22 or "yy" in formats.get(number_format, ""):
                date_styles.add(index)
        rels = ET.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        targets = {r.get("Id"): r.get("Target") for r in rels}
        sheets = {}
        workbook = ET.fromstring(archive.read("xl/workbook.xml"))
        for sheet in workbook.iterfind("m:sheets/m:sheet", ns):
            root = ET.fromstring(archive.read("xl/" + targets[sheet.get(rel_ns)]))
            rows: list[list[object]] = []
            for row in root.iterfind("m:sheetData/m:row", ns):
                number = int(row.get("r", len(rows) + 1))
                while len(rows) < number - 1:
                    rows.append([])
                values: list[object] = []
                for c in row.iterfind("m:c", ns):
                    if c.get("r"):
                        letters = re.match(r"[A-Z]+", c.get("r")).group()
                        column = 0
                        for letter in letters:
                            column = column * 26 + ord(letter) - 64
                        values += [None] * (column - 1 - len(values))
                    v = c.find("m:v", ns)
                    if v is None:
                        values.append(None)
                    elif c.get("t") == "s":
                        values.append(strings[int(v.text)])
                    elif int(c.get("s", 0)) in date_styles:
                        values.append(_serial_to_datetime(float(v.text)))
                    else:
                        number_value = float(v.text)
                        values.append(
                            int(number_value) if number_value.is_integer() else number_value
                        )
                rows.append(values)
            sheets[sheet.get("name")] = rows
    return sheets


def read_workbook(path: Path) -> dict[str, list[list[object]]]:
    try:
        import openpyxl
    except ImportError:
        return read_workbook_stdlib(path)
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in workbook}
    finally:
        workbook.close()


# -- what a valid row is ------------------------------------------------------------------


@dataclass
class Reference:
    regimes: dict[str, dict]
    indicators: dict[str, dict]
    agencies: dict[str, list[Agency]]


@pytest.fixture(scope="module")
def reference(clean: Run) -> Reference:
    catalogue = json.loads((clean.out / "reports" / "regimes.json").read_text(encoding="utf-8"))
    agencies: dict[str, list[Agency]] = {}
    for agency in build_agencies(load_region("37")):
        agencies.setdefault(agency.code, []).append(agency)
    return Reference(
        {r["code"]: r for r in catalogue["regimes"]},
        {i["code"]: i for i in catalogue["indicators"]},
        agencies,
    )


def period_bounds(label: str) -> tuple[str, date, date] | None:
    """(frequency, first day, cut-off) that a period label stands for, by Decree 09/2019."""
    if m := re.fullmatch(r"Tháng (\d{2})/(\d{4})", label):
        month, year = int(m[1]), int(m[2])
        previous = date(year - 1, 12, 15) if month == 1 else date(year, month - 1, 15)
        return "monthly", previous, date(year, month, 14)
    if m := re.fullmatch(r"Quý (I|II|III|IV)/(\d{4})", label):
        last, year = ROMAN[m[1]] * 3, int(m[2])
        first = date(year - 1, 12, 15) if last == 3 else date(year, last - 3, 15)
        return "quarterly", first, date(year, last, 14)
    if m := re.fullmatch(r"6 tháng/(\d{4})", label):
        return "six_months", date(int(m[1]) - 1, 12, 15), date(int(m[1]), 6, 14)
    if m := re.fullmatch(r"Năm (\d{4})", label):
        return "annual", date(int(m[1]) - 1, 12, 15), date(int(m[1]), 12, 14)
    return None


FREQUENCIES = {"monthly": {"monthly"}, "quarterly": {"quarterly"},
               "semi_annual": {"six_months", "annual"}, "annual": {"annual"}}  # fmt: skip


def _parse(text: str, pattern: re.Pattern, fmt: str, column: int, problems: list[str]):
    if not pattern.match(text):
        problems.append(f"format:{column}")
        return None
    try:
        return datetime.strptime(text, fmt)
    except ValueError:
        problems.append(f"date:{column}")
        return None


def problems_of(fields: list[str], ref: Reference) -> list[str]:
    """Why a CSV row is not valid (empty when it is)."""
    if len(fields) != len(COLUMNS):
        return ["columns"]
    problems: list[str] = []
    submitted = fields[STATUS] != "Chưa nộp"
    required = ALWAYS_REQUIRED + ((VALUE, SUBMITTED, VERSION) if submitted else ())
    problems += [f"missing:{c}" for c in required if not fields[c]]
    if fields[STATUS] and fields[STATUS] not in STATUSES:
        problems.append("status")
    if not submitted and (fields[VALUE] or fields[SUBMITTED] or fields[VERSION]):
        problems.append("values without a submission")
    days = {}
    for column in (FROM, TO, DEADLINE):
        if fields[column]:
            parsed = _parse(fields[column], DATE, "%d/%m/%Y", column, problems)
            days[column] = parsed.date() if parsed else None
    moment = None
    if fields[SUBMITTED]:
        moment = _parse(fields[SUBMITTED], DATETIME, "%d/%m/%Y %H:%M:%S", SUBMITTED, problems)
    regime = ref.regimes.get(fields[REGIME])
    if fields[REGIME] and regime is None:
        problems.append("regime")
    if regime and fields[REGIME_NAME] and fields[REGIME_NAME] != regime["name"]:
        problems.append("regime name")
    bounds = period_bounds(fields[PERIOD]) if fields[PERIOD] else None
    if fields[PERIOD] and bounds is None:
        problems.append("period label")
    first, cutoff = days.get(FROM), days.get(TO)
    if bounds and first and cutoff and bounds[1:] != (first, cutoff):
        problems.append("period bounds")
    if bounds and regime and bounds[0] not in FREQUENCIES[regime["frequency"]]:
        problems.append("period frequency")
    deadline = days.get(DEADLINE)
    if cutoff and deadline and not cutoff < deadline <= cutoff + timedelta(days=62):
        problems.append(f"range:{DEADLINE}")
    if moment and first and not (first <= moment.date() and moment <= AS_OF):
        problems.append(f"range:{SUBMITTED}")
    if fields[UNIT] and cutoff:
        candidates = [a for a in ref.agencies.get(fields[UNIT], []) if a.in_force(cutoff)]
        if not candidates:
            problems.append("unit")
        elif regime and (candidates[0].kind not in regime["reporting_kinds"]
                         or candidates[0].name != fields[UNIT_NAME]):  # fmt: skip
            problems.append("unit kind or name")
    indicator = ref.indicators.get(fields[INDICATOR])
    if fields[INDICATOR] and (indicator is None or (regime and indicator["code"]
                                                    not in regime["indicators"])):  # fmt: skip
        problems.append("indicator")
    elif indicator and (fields[INDICATOR_NAME], fields[MEASURE]) != (
        indicator["name"],
        indicator["unit"],
    ):
        problems.append("indicator name")
    if fields[VALUE] and indicator:
        try:
            value = float(fields[VALUE])
        except ValueError:
            problems.append("value")
        else:
            whole = re.fullmatch(r"-?\d+", fields[VALUE]) is not None
            typed = whole or indicator["type"] == "percentage"
            if not typed or not indicator["min"] <= value <= indicator["max"]:
                problems.append("value")
    if fields[VERSION] and not re.fullmatch(r"[1-9]\d*", fields[VERSION]):
        problems.append("version")
    return problems


def all_problems(path: Path, ref: Reference) -> dict[int, list[str]]:
    """Problems of every data line of a CSV, by line number."""
    result = {}
    previous = None
    for number, raw, fields in csv_lines(path):
        if fields is None:
            result[number] = ["encoding"]
        elif raw == previous:
            result[number] = ["duplicate"]
        else:
            result[number] = problems_of(fields, ref)
        previous = raw
    return result


def valid_rows(out: Path, ref: Reference) -> list[list[str]]:
    rows = []
    for path in csv_files(out):
        problems = all_problems(path, ref)
        rows += [fields for n, _, fields in csv_lines(path) if not problems[n]]
    return rows


# -- the tests -------------------------------------------------------------------------------


def test_catalogue_lists_regimes_with_indicators(clean: Run, reference: Reference) -> None:
    assert 30 <= len(reference.regimes) <= 60
    frequencies = Counter(r["frequency"] for r in reference.regimes.values())
    assert set(frequencies) == {"monthly", "quarterly", "semi_annual", "annual"}
    kinds = {k for r in reference.regimes.values() for k in r["reporting_kinds"]}
    assert {"commune_committee", "department", "province_committee"} <= kinds
    for regime in reference.regimes.values():
        assert regime["name"] and regime["issuing_body"] and regime["deadline"]["rule"]
        assert regime["indicators"] and set(regime["indicators"]) <= set(reference.indicators)
    types = {i["type"] for i in reference.indicators.values()}
    assert types == {"integer", "money_vnd", "percentage"}


def test_csv_rows_are_typed_and_known(clean: Run, reference: Reference) -> None:
    files = csv_files(clean.out)
    assert [p.parent.name for p in files] == [
        f"period=2025-{m:02d}" for m in range(4, 10)
    ]  # one folder per cut-off month in the window
    total = 0
    for path in files:
        assert path.with_suffix(".xlsx").exists()
        problems = all_problems(path, reference)
        bad = {n: p for n, p in problems.items() if p}
        assert not bad, (path.name, list(bad.items())[:5])
        total += len(problems)
    assert clean.counts.total("reports.submissions") == total
    assert 5_000 < total < 50_000
    months = clean.counts.by_month()["reports.submissions"]
    assert sorted(months) == [f"2025-{m:02d}" for m in range(4, 10)]


def test_periods_follow_the_15th_to_14th_cut_off(clean: Run, reference: Reference) -> None:
    labels = Counter()
    for fields in valid_rows(clean.out, reference):
        first = datetime.strptime(fields[FROM], "%d/%m/%Y").date()
        cutoff = datetime.strptime(fields[TO], "%d/%m/%Y").date()
        assert (first.day, cutoff.day) == (15, 14)
        assert period_bounds(fields[PERIOD])[1:] == (first, cutoff)
        labels[fields[PERIOD].split(" ")[0]] += 1
        deadline = datetime.strptime(fields[DEADLINE], "%d/%m/%Y").date()
        assert cutoff < deadline <= cutoff + timedelta(days=10)
    assert {"Tháng", "Quý", "6"} <= set(labels)
    july = [f for f in valid_rows(clean.out, reference) if f[PERIOD] == "Tháng 07/2025"]
    assert {(f[FROM], f[TO]) for f in july} == {("15/06/2025", "14/07/2025")}


def test_units_are_those_in_force_old_before_the_merger_new_after(
    clean: Run, reference: Reference
) -> None:
    eras: dict[bool, set[str]] = {True: set(), False: set()}
    kinds = Counter()
    for fields in valid_rows(clean.out, reference):
        cutoff = datetime.strptime(fields[TO], "%d/%m/%Y").date()
        (agency,) = [a for a in reference.agencies[fields[UNIT]] if a.in_force(cutoff)]
        assert (agency.valid_to is not None) == (cutoff < MERGER_DATE)
        if fields[SUBMITTED]:
            moment = datetime.strptime(fields[SUBMITTED], "%d/%m/%Y %H:%M:%S")
            assert agency.in_force(moment.date()), (agency.code, moment)
        eras[cutoff < MERGER_DATE].add(agency.province_code)
        kinds[agency.kind] += 1
    assert eras[True] == {"35", "36", "37"}  # Hà Nam, Nam Định, Ninh Bình before
    assert eras[False] == {"37"}  # the merged Ninh Bình after, from the July period on
    assert {"commune_committee", "district_committee", "department",
            "province_committee"} <= set(kinds)  # fmt: skip


def test_some_reports_are_late_missing_or_resubmitted(clean: Run, reference: Reference) -> None:
    reports: dict[tuple[str, str, str], list[list[str]]] = {}
    for fields in valid_rows(clean.out, reference):
        reports.setdefault((fields[REGIME], fields[PERIOD], fields[UNIT]), []).append(fields)
    late = missing = resubmitted = on_time = 0
    for rows in reports.values():
        versions = {r[VERSION] for r in rows}
        if versions == {""}:
            missing += 1
            assert {r[STATUS] for r in rows} == {"Chưa nộp"}
            continue
        first = next(r for r in rows if r[VERSION] == "1")
        submitted = datetime.strptime(first[SUBMITTED], "%d/%m/%Y %H:%M:%S").date()
        deadline = datetime.strptime(first[DEADLINE], "%d/%m/%Y").date()
        late += submitted > deadline
        on_time += submitted <= deadline
        if len(versions) > 1:
            resubmitted += 1
            latest = max(versions, key=int)
            assert all((r[STATUS] == "Đã nộp") == (r[VERSION] == latest) for r in rows)
    total = len(reports)
    assert 0.6 < on_time / total < 0.97
    assert late > 0.03 * total and missing > 0.005 * total and resubmitted > 0.01 * total


def _normalise_csv(fields: list[str]) -> list[object]:
    values: list[object] = []
    for column, text in enumerate(fields):
        if text == "":
            values.append(None)
        elif column in (VALUE, VERSION):
            try:
                values.append(float(text))
            except ValueError:
                values.append(text)
        else:
            values.append(text)
    return values


def _normalise_xlsx(cells: list[object], mojibake: bool) -> list[object]:
    cells = (list(cells) + [None] * len(COLUMNS))[: len(COLUMNS)]
    values: list[object] = []
    for column, value in enumerate(cells):
        if isinstance(value, datetime):
            moment = (value + timedelta(microseconds=500_000)).replace(microsecond=0)
            fmt = "%d/%m/%Y %H:%M:%S" if column == SUBMITTED else "%d/%m/%Y"
            values.append(moment.strftime(fmt))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            values.append(float(value))
        elif isinstance(value, str) and mojibake:
            values.append(value.encode("latin-1").decode("utf-8"))
        else:
            values.append(value)
    return values


@pytest.mark.parametrize("run", ["clean", "faulty"])
def test_workbook_holds_the_same_rows_as_the_csv(run: str, request: pytest.FixtureRequest) -> None:
    out = request.getfixturevalue(run).out
    for path in csv_files(out):
        sheets = read_workbook(path.with_suffix(".xlsx"))
        assert list(sheets) == ["Dữ liệu"]
        rows = sheets["Dữ liệu"]
        assert rows[0][0].startswith("ỦY BAN NHÂN DÂN") and rows[3][0].startswith("DỮ LIỆU")
        assert list(rows[6][: len(COLUMNS)]) == list(COLUMNS)
        data = rows[7:]
        lines = csv_lines(path)
        assert len(data) == len(lines)
        for (number, raw, fields), cells in zip(lines, data, strict=True):
            broken = fields is None
            expected = _normalise_csv(from_cp1258(raw) if broken else fields)
            assert _normalise_xlsx(cells, broken) == expected, (path.name, number)


def test_same_seed_same_bytes(clean: Run, tmp_path: Path) -> None:
    days: list[date] = []
    again = _generate(tmp_path / "again", SEED, 0.0, on_day=days.append)
    assert days == [WINDOW[0] + timedelta(days=n) for n in range((WINDOW[1] - WINDOW[0]).days + 1)]
    files = sorted(p.relative_to(clean.out) for p in (clean.out / "reports").rglob("*.*"))
    assert files == sorted(p.relative_to(again.out) for p in (again.out / "reports").rglob("*.*"))
    for name in files:  # the workbooks too: fixed zip timestamps and creation date
        assert (clean.out / name).read_bytes() == (again.out / name).read_bytes(), name
    assert again.counts.as_dict() == clean.counts.as_dict()


def test_faults_are_listed_once_and_every_other_row_is_valid(
    faulty: Run, clean: Run, reference: Reference
) -> None:
    manifest = [
        json.loads(line)
        for line in (faulty.out / "faults" / "reports.submissions.jsonl").read_text().splitlines()
    ]
    assert {e["kind"] for e in manifest} == set(FAULT_KINDS)
    assert all(e["source"] == "reports.submissions" for e in manifest)
    listed: dict[tuple[str, int], dict] = {}
    for entry in manifest:
        line = int(DETAIL.match(entry["detail"])[1])
        assert (entry["file"], line) not in listed, "a record gets at most one fault"
        listed[(entry["file"], line)] = entry
    rows = 0
    for path in csv_files(faulty.out):
        file = str(path.relative_to(faulty.out))
        lines = {n: (raw, fields) for n, raw, fields in csv_lines(path)}
        for number, problems in all_problems(path, reference).items():
            rows += 1
            entry = listed.get((file, number))
            if entry is None:
                assert not problems, (file, number, problems)
                continue
            kind = entry["kind"]
            assert problems, (file, number, kind)
            expected = {
                "wrong_encoding": lambda p: p == "encoding",
                "duplicate": lambda p: p == "duplicate",
                "malformed_date": lambda p: p.startswith("format:"),
                "impossible_date": lambda p: p.startswith(("date:", "range:")),
                "unknown_unit": lambda p: p == "unit",
                "unknown_indicator": lambda p: p == "indicator",
                "missing_field": lambda p: p.startswith("missing:"),
                "absurd_value": lambda p: p == "value",
            }[kind]
            assert any(expected(p) for p in problems), (kind, problems)
            raw, fields = lines[number]
            fields = fields if fields is not None else from_cp1258(raw)
            row_key = [fields[REGIME], fields[PERIOD], fields[UNIT], fields[INDICATOR],
                       fields[VERSION] or "0"]  # fmt: skip
            key = entry["record_key"].split("|")
            same = sum(a == b for a, b in zip(key, row_key, strict=True))
            spoils_key = kind in ("unknown_unit", "unknown_indicator", "missing_field")
            assert same == 5 or (same == 4 and spoils_key), (entry, row_key)
    assert len(manifest) == len(listed)
    assert faulty.counts.total("reports.submissions") == rows
    assert 0.5 * FAULT_RATE < len(manifest) / rows < 2 * FAULT_RATE
    # Faults spoil rows, they do not change what was generated: the same reports, same order.
    assert rows - Counter(e["kind"] for e in manifest)["duplicate"] == clean.counts.total(
        "reports.submissions"
    )


def test_workbook_goes_on_in_a_new_sheet_past_the_row_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WorkbookWriter, "MAX_ROWS", 10)
    title = (("Left", "Right"), ("", ""), ("", ""), ("Title", ""), ("Subtitle", ""))
    workbook = WorkbookWriter(tmp_path / "rows.xlsx", title, datetime(2025, 7, 1))
    positions = [
        workbook.add(workbook.cell(f"row {n}") + workbook.cell(n, 5) + workbook.cell(None)
                     + workbook.cell(date(2025, 7, n + 1)))
        for n in range(5)
    ]  # fmt: skip
    workbook.close()
    assert positions == [(1, 8), (1, 9), (1, 10), (2, 8), (2, 9)]
    sheets = read_workbook(tmp_path / "rows.xlsx")
    assert list(sheets) == ["Dữ liệu", "Dữ liệu (2)"]
    for name, numbers in (("Dữ liệu", range(3)), ("Dữ liệu (2)", range(3, 5))):
        rows = sheets[name]
        assert rows[0][0] == "Left" and rows[0][7] == "Right" and rows[3][0] == "Title"
        assert list(rows[6][: len(COLUMNS)]) == list(COLUMNS)
        assert [r[:4] for r in rows[7:]] == [
            [f"row {n}", n, None, datetime(2025, 7, n + 1)] for n in numbers
        ]
