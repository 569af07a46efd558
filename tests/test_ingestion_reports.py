"""The reporting-system connector: every fault caught, every good row loaded, once, anywhere."""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse
from ingestion import ledger
from ingestion.reports import SOURCE, ingest_reports
from simulator.agencies import build_agencies
from simulator.generate import write_agencies, write_system
from simulator.reports import write_reporting_system
from simulator.units import load_region

WINDOW = (date(2025, 5, 1), date(2025, 8, 31))  # crosses the 1 July 2025 merger
SCALE, SEED, FAULT_RATE = 0.05, 7, 0.05
PERIODS = ["2025-05", "2025-06", "2025-07", "2025-08"]
DETAIL = re.compile(r"^line (\d+), sheet (\d+) row (\d+): (.*)$")
DATA_COLUMNS = (
    "regime_code", "regime_name", "period_label", "period_start", "period_end", "unit_code",
    "unit_name", "indicator_code", "indicator_name", "indicator_unit", "value", "deadline",
    "submitted_at", "version", "status",
)  # fmt: skip
ALL_COLUMNS = (*DATA_COLUMNS, "source_file", "source_line")
DATE_FIELDS = ("Thời điểm nộp", "Thời hạn nộp")


# -- exports and warehouses ------------------------------------------------------------------


def _generate(out: Path, fault_rate: float) -> Path:
    write_agencies(out, build_agencies(load_region("37")))
    write_system(write_reporting_system, out, SEED, SCALE, *WINDOW, fault_rate)
    return out


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generate(tmp_path_factory.mktemp("reports-faulty"), FAULT_RATE)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generate(tmp_path_factory.mktemp("reports-clean"), 0.0)


@pytest.fixture(autouse=True)
def _no_govdata_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GOVDATA_"):
            monkeypatch.delenv(name)


def settings_for(home: Path, out: Path) -> Settings:
    return Settings(home=home, reports_dir=out / "reports")


def duckdb_at(path: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(path / "warehouse.duckdb", province_code="37")


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    if request.param == "postgres":
        connection: Warehouse = PostgresWarehouse(
            request.getfixturevalue("pg_url"), province_code="37"
        )
    else:
        connection = duckdb_at(tmp_path)
    yield connection
    connection.close()


def raw_rows(warehouse: Warehouse, columns: tuple[str, ...] = ALL_COLUMNS) -> list[tuple]:
    quoted = ", ".join(columns)
    return sorted(
        warehouse.fetch(f"select {quoted} from raw.reports__submissions"),
        key=lambda row: tuple((v is None, str(v)) for v in row),
    )


def rejected(warehouse: Warehouse) -> list[tuple[str, str, dict]]:
    rows = warehouse.fetch(
        "select record_key, reason, payload from ops.rejected_records where source = ?", [SOURCE]
    )
    return sorted((key, reason, json.loads(payload)) for key, reason, payload in rows)


def runs(warehouse: Warehouse) -> list[tuple]:
    return warehouse.fetch(
        "select run_id, source, status, rows_read, rows_loaded, rows_rejected, rows_duplicate, "
        "watermark_from, watermark_to from ops.ingest_runs order by started_at, source"
    )


def manifest(out: Path) -> list[dict]:
    lines = (out / "faults" / "reports.submissions.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines]


def export_rows(out: Path) -> list[tuple]:
    """Every row of the CSV exports, typed the way the raw table holds them."""
    rows = []
    for path in sorted((out / "reports").glob("period=*/bao_cao_*.csv")):
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            for fields in reader:
                f = [v or None for v in fields]
                rows.append((
                    *f[0:3],
                    datetime.strptime(f[3], "%d/%m/%Y").date(),
                    datetime.strptime(f[4], "%d/%m/%Y").date(),
                    *f[5:10],
                    float(f[10]) if f[10] else None,
                    datetime.strptime(f[11], "%d/%m/%Y").date(),
                    datetime.strptime(f[12], "%d/%m/%Y %H:%M:%S") if f[12] else None,
                    int(f[13]) if f[13] else 0,
                    f[14],
                ))  # fmt: skip
    return rows


def data_lines(out: Path) -> int:
    paths = (out / "reports").glob("period=*/bao_cao_*.csv")
    return sum(path.read_bytes().count(b"\r\n") - 1 for path in paths)


def key_of(row: tuple) -> str:
    return f"{row[0]}|{row[2]}|{row[5]}|{row[7]}|{row[13]}"


def by_text(rows: list[tuple]) -> list[tuple]:
    return sorted(rows, key=lambda row: tuple((v is None, str(v)) for v in row))


def fits(entry: dict, reason: str) -> bool:
    """Whether ``reason`` is the one the fault of ``entry`` calls for (and names its field)."""
    kind, detail = entry["kind"], DETAIL.match(entry["detail"])[4]
    if kind in ("malformed_date", "impossible_date"):
        column = next(c for c in DATE_FIELDS if detail.startswith(c))
        words = ("expected format",) if kind == "malformed_date" else ("valid date", "range")
        return reason.startswith(f"{column}: ") and any(w in reason for w in words)
    if kind == "missing_field":
        column = detail.removesuffix(" empty")
        return reason.startswith(f"missing required field {column}")
    prefixes = {
        "unknown_unit": "Mã đơn vị: ",
        "unknown_indicator": "Mã chỉ tiêu: ",
        "absurd_value": "Giá trị: ",
        "wrong_encoding": "row: text encoding",
    }
    return reason.startswith(prefixes[kind])


def reconciles(warehouse: Warehouse) -> bool:
    return all(read == loaded + rej + dup for *_, read, loaded, rej, dup, _, _ in runs(warehouse))


# -- the tests -------------------------------------------------------------------------------


def test_every_fault_is_rejected_and_every_good_row_loaded(
    warehouse: Warehouse, faulty: Path, clean: Path, tmp_path: Path
) -> None:
    results = ingest_reports(settings_for(tmp_path, faulty), warehouse)
    assert [(r.source, r.status) for r in results] == [
        ("reports.regimes", "success"), ("reports.indicators", "success"), (SOURCE, "success"),
    ]  # fmt: skip
    faults = manifest(faulty)
    kinds = Counter(e["kind"] for e in faults)
    assert set(kinds) >= {"wrong_encoding", "duplicate", "absurd_value", "unknown_unit",
                          "unknown_indicator", "malformed_date", "impossible_date",
                          "missing_field"}  # fmt: skip

    # Every fault but the duplicates is in ops.rejected_records with a fitting reason, the
    # original row as payload; nothing else is rejected.
    found = {(p["file"], p["line"]): (key, reason, p) for key, reason, p in rejected(warehouse)}
    spoiled = [e for e in faults if e["kind"] != "duplicate"]
    listed = {(e["file"], int(DETAIL.match(e["detail"])[1])): e for e in spoiled}
    assert set(found) == set(listed)
    for where, entry in listed.items():
        key, reason, payload = found[where]
        assert fits(entry, reason), (entry, reason)
        assert len(payload["fields"]) == 15 and payload["file"] == entry["file"]
        if entry["kind"] == "wrong_encoding":
            assert "Windows-1258" in reason and payload["text"].count(",") >= 14
        if entry["kind"] not in ("unknown_unit", "unknown_indicator", "missing_field"):
            assert key == entry["record_key"]

    # Every good row is loaded, once: the clean export's rows but the spoiled ones.
    spoiled_keys = {e["record_key"] for e in spoiled}
    expected = [row for row in export_rows(clean) if key_of(row) not in spoiled_keys]
    assert raw_rows(warehouse, DATA_COLUMNS) == by_text(expected)

    counts = results[-1].counts
    assert counts.read == data_lines(faulty) == len(export_rows(clean)) + kinds["duplicate"]
    assert (counts.loaded, counts.rejected, counts.duplicate) == (
        len(expected), len(spoiled), kinds["duplicate"],
    )  # fmt: skip
    assert counts.reconciles and reconciles(warehouse)
    assert ledger.read_watermark(warehouse, SOURCE) == PERIODS[-1]
    (regimes,) = warehouse.fetch("select count(*) from raw.reports__regimes")[0]
    (indicators,) = warehouse.fetch("select count(*) from raw.reports__indicators")[0]
    assert (regimes, indicators) == (results[0].counts.loaded, results[1].counts.loaded)
    assert regimes > 30 and indicators > 100
    # What was read is landed, as read.
    landed = list((tmp_path / "landing" / f"source={SOURCE}").glob("load_date=*/*.parquet"))
    assert len(landed) == len(PERIODS)


def test_duckdb_and_postgres_load_the_same_rows(faulty: Path, tmp_path: Path, pg_url: str) -> None:
    loaded = []
    for name, connection in (
        ("duckdb", duckdb_at(tmp_path)),
        ("pg", PostgresWarehouse(pg_url, province_code="37")),
    ):
        try:
            results = ingest_reports(settings_for(tmp_path / name, faulty), connection)
            regimes = connection.fetch(
                "select code, name, frequency, deadline_rule, deadline_value "
                "from raw.reports__regimes order by code"
            )
            loaded.append((raw_rows(connection), rejected(connection), regimes,
                           [r.counts for r in results]))  # fmt: skip
        finally:
            connection.close()
    assert loaded[0] == loaded[1]


def test_running_again_changes_nothing(warehouse: Warehouse, faulty: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, faulty)
    ingest_reports(settings, warehouse)
    before = (raw_rows(warehouse), rejected(warehouse))
    again = ingest_reports(settings, warehouse)
    assert [r.counts.loaded for r in again] == [0, 0, 0]
    assert [r.counts.rejected for r in again] == [0, 0, 0]
    submissions = again[-1]
    # The latest period loaded is read again (resubmissions can arrive), all of it duplicate.
    assert submissions.watermark_from == submissions.watermark_to == PERIODS[-1]
    assert submissions.counts.read == submissions.counts.duplicate > 0
    assert (raw_rows(warehouse), rejected(warehouse)) == before
    assert reconciles(warehouse) and len(runs(warehouse)) == 6


def test_a_killed_run_resumes_without_loss_or_duplicates(
    warehouse: Warehouse, faulty: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path, faulty)
    original = ledger.write_watermark
    periods: list[str] = []

    def killed_in_the_second_period(connection: Warehouse, source: str, mark: str) -> None:
        periods.append(mark)
        if len(periods) == 2:  # inside the second period's transaction, after its rows
            raise RuntimeError("killed")
        original(connection, source, mark)

    monkeypatch.setattr(ledger, "write_watermark", killed_in_the_second_period)
    with pytest.raises(RuntimeError, match="killed"):
        ingest_reports(settings, warehouse)
    monkeypatch.setattr(ledger, "write_watermark", original)
    assert ledger.read_watermark(warehouse, SOURCE) == PERIODS[0]
    assert {r[2] for r in raw_rows(warehouse)} == {"Tháng 05/2025"}
    failed = [r for r in runs(warehouse) if r[1] == SOURCE]
    assert [r[2] for r in failed] == ["failed"]

    resumed = ingest_reports(settings, warehouse)[-1]
    assert resumed.watermark_from == PERIODS[0] and resumed.watermark_to == PERIODS[-1]
    single = duckdb_at(tmp_path / "single")
    try:
        ingest_reports(settings_for(tmp_path / "single", faulty), single)
        assert raw_rows(warehouse) == raw_rows(single)
        assert rejected(warehouse) == rejected(single)
        (loaded,) = warehouse.fetch(
            "select sum(rows_loaded) from ops.ingest_runs where source = ?", [SOURCE]
        )[0]
        assert loaded == len(raw_rows(single))
    finally:
        single.close()
    assert reconciles(warehouse)


def test_excel_gives_the_same_rows_as_csv(faulty: Path, tmp_path: Path) -> None:
    loaded = {}
    for fmt in ("csv", "xlsx"):
        connection = duckdb_at(tmp_path / fmt)
        try:
            results = ingest_reports(settings_for(tmp_path / fmt, faulty), connection, fmt=fmt)
            files = {r[-2] for r in raw_rows(connection)}
            assert all(f.endswith(f".{fmt}") for f in files), files
            reasons = Counter(
                (p["line"], reason.split(" (")[0]) for _, reason, p in rejected(connection)
            )
            loaded[fmt] = (raw_rows(connection, (*DATA_COLUMNS, "source_line")), reasons,
                           results[-1].counts)  # fmt: skip
        finally:
            connection.close()
    assert loaded["csv"] == loaded["xlsx"]
    assert loaded["csv"][2].rejected > 0


def test_new_periods_and_resubmissions_are_picked_up(faulty: Path, tmp_path: Path) -> None:
    """The export grows: a new period, and a resubmission in the latest period already loaded."""
    out = tmp_path / "export"
    shutil.copytree(faulty / "reference", out / "reference")
    (out / "reports").mkdir(parents=True)
    shutil.copy(faulty / "reports" / "regimes.json", out / "reports")
    for period in PERIODS[:2]:
        shutil.copytree(
            faulty / "reports" / f"period={period}", out / "reports" / f"period={period}"
        )
    settings = settings_for(tmp_path, out)
    connection = duckdb_at(tmp_path)
    try:
        first = ingest_reports(settings, connection)[-1]
        assert first.watermark_to == PERIODS[1]

        # A unit sends version 2 of a report after the export of June was first read.
        path = out / "reports" / f"period={PERIODS[1]}" / f"bao_cao_{PERIODS[1]}.csv"
        row = next(r for r in raw_rows(connection) if r[2] == "Tháng 06/2025" and r[13] == 1
                   and r[14] == "Đã nộp" and r[9] != "%")  # fmt: skip
        fields = [
            row[0], row[1], row[2], f"{row[3]:%d/%m/%Y}", f"{row[4]:%d/%m/%Y}", row[5], row[6],
            row[7], row[8], row[9], f"{row[10] + 1:.0f}", f"{row[11]:%d/%m/%Y}",
            f"{row[12] + timedelta(days=1):%d/%m/%Y %H:%M:%S}", "2", "Đã nộp",
        ]  # fmt: skip
        with path.open("ab") as handle:
            handle.write((",".join(f'"{f}"' if "," in f else f for f in fields) + "\r\n").encode())
        for period in PERIODS[2:]:
            shutil.copytree(faulty / "reports" / f"period={period}",
                            out / "reports" / f"period={period}")  # fmt: skip

        second = ingest_reports(settings, connection)[-1]
        assert second.watermark_from == PERIODS[1] and second.watermark_to == PERIODS[-1]
        single = duckdb_at(tmp_path / "single")
        try:
            ingest_reports(settings_for(tmp_path / "single", out), single)
            assert raw_rows(connection) == raw_rows(single)
        finally:
            single.close()
        versions = [r for r in raw_rows(connection) if key_of(r)[:-2] == key_of(row)[:-2]]
        assert [r[13] for r in versions] == [1, 2]
        assert second.counts.loaded == len(raw_rows(connection)) - first.counts.loaded
        assert reconciles(connection)
    finally:
        connection.close()


def test_without_an_agency_directory_units_are_not_checked(
    clean: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "export"
    shutil.copytree(clean / "reports", out / "reports")
    connection = duckdb_at(tmp_path)
    try:
        with caplog.at_level(logging.WARNING, logger="ingestion.reports"):
            result = ingest_reports(settings_for(tmp_path, out), connection)[-1]
        assert "no agency directory" in caplog.text
        assert result.counts.loaded == result.counts.read == len(export_rows(clean))
    finally:
        connection.close()


def _row(fields: list[str]) -> str:
    return ",".join(f'"{f}"' if "," in f else f for f in fields)


def test_other_broken_rows_are_rejected_naming_the_field(clean: Path, tmp_path: Path) -> None:
    """Checks no simulated fault exercises: periods, validity, regimes' indicators, conflicts."""
    source = clean / "reports" / "period=2025-07" / "bao_cao_2025-07.csv"
    lines = source.read_bytes().decode("utf-8-sig").split("\r\n")
    header, good = lines[0], next(csv.reader([lines[1]]))
    assert good[14] == "Đã nộp" and good[10].isdigit()
    agencies = list(csv.DictReader((clean / "reference" / "agencies.csv").open(encoding="utf-8")))
    in_force = {a["MaDinhDanh"] for a in agencies if not a["HieuLucDen"]}
    retired = next(a["MaDinhDanh"] for a in agencies
                   if a["HieuLucDen"] and a["MaDinhDanh"] not in in_force)  # fmt: skip
    regimes = json.loads((clean / "reports" / "regimes.json").read_text("utf-8"))
    other = next(i for i in regimes["indicators"]
                 if not any(i["code"] in r["indicators"] for r in regimes["regimes"]
                            if r["code"] == good[0]))  # fmt: skip
    cases = {
        "Kỳ báo cáo: not a period label": {2: "Tháng 13/2025"},
        "Kỳ báo cáo: does not match Từ ngày and Đến ngày": {2: "Tháng 08/2025"},
        "Kỳ báo cáo: not a period of the regime's frequency": {2: "Năm 2025", 3: "15/12/2024",
                                                               4: "14/12/2025"},
        "Mã đơn vị: no agency with this code in force on Đến ngày": {5: retired},
        "Mã chỉ tiêu: not an indicator of the regime": {7: other["code"], 8: other["name"],
                                                        9: other["unit"]},
        "Tên chỉ tiêu: does not match the indicator catalogue": {8: "Chỉ tiêu khác"},
        "Giá trị: not a number": {10: "1.234,5"},
        "Giá trị: not a whole number": {10: f"{good[10]}.5"},
        "Trạng thái: Chưa nộp but": {14: "Chưa nộp"},
        "Trạng thái: unknown code": {14: "Đã duyệt"},
        "Lần nộp: not in the expected format": {13: "0"},
        "Thời hạn nộp: out of range": {11: "14/07/2025"},
    }  # fmt: skip
    rows = []
    for changes in cases.values():
        fields = list(good)
        for column, value in changes.items():
            fields[column] = value
        rows.append(_row(fields))
    conflict = list(good)
    conflict[10] = str(int(good[10]) + 1)
    rows += [lines[1], _row(conflict), _row(good[:-1])]  # a conflict, then a short row
    out = tmp_path / "export"
    shutil.copytree(clean / "reference", out / "reference")
    (out / "reports" / "period=2025-07").mkdir(parents=True)
    shutil.copy(clean / "reports" / "regimes.json", out / "reports")
    (out / "reports" / "period=2025-07" / "bao_cao_2025-07.csv").write_bytes(
        b"\xef\xbb\xbf" + "\r\n".join([header, *rows, ""]).encode()
    )
    connection = duckdb_at(tmp_path)
    try:
        result = ingest_reports(settings_for(tmp_path, out), connection)[-1]
        reasons = {p["line"]: reason for _, reason, p in rejected(connection)}
        for line, expected in enumerate(cases, start=2):
            assert reasons.get(line, "").startswith(expected), (expected, reasons.get(line))
        line = len(cases) + 3
        assert "read earlier with other values" in reasons[line]
        assert "the header has 15" in reasons[line + 1] and reasons[line + 1].startswith("row: 14")
        assert (result.counts.loaded, result.counts.rejected) == (1, len(cases) + 2)
    finally:
        connection.close()


def test_an_unknown_format_is_refused(tmp_path: Path) -> None:
    connection = duckdb_at(tmp_path)
    with pytest.raises(ValueError, match="unknown reports format"):
        ingest_reports(settings_for(tmp_path, tmp_path), connection, fmt="ods")
    connection.close()


def test_an_export_without_its_columns_fails_the_run(clean: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    shutil.copytree(clean / "reports", out / "reports")
    path = out / "reports" / "period=2025-05" / "bao_cao_2025-05.csv"
    path.write_bytes(path.read_bytes().replace("Mã đơn vị".encode(), b"Ma don vi", 1))
    connection = duckdb_at(tmp_path)
    try:
        with pytest.raises(SourceError, match="lacks the columns Mã đơn vị"):
            ingest_reports(settings_for(tmp_path, out), connection)
        assert [r[2] for r in runs(connection) if r[1] == SOURCE] == ["failed"]
        assert ledger.read_watermark(connection, SOURCE) is None
    finally:
        connection.close()
