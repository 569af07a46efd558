"""Connector for the reporting system: periodic indicator reports, read from its exports.

The reporting system drops one folder per cut-off month under ``settings.reports_export_dir``::

    regimes.json                               the regimes, their indicators, the CSV layout
    period=YYYY-MM/bao_cao_YYYY-MM.csv         UTF-8 with BOM, CRLF, Vietnamese headers
    period=YYYY-MM/bao_cao_YYYY-MM.xlsx        the same rows (sheet "Dữ liệu", header row 7)

with one row per regime x period x unit x version x indicator. The CSV is read by default; the
workbook when ``fmt="xlsx"`` (or ``settings.reports_format``). Both give the same rows.

A run snapshots the catalogue (``raw.reports__regimes``, ``raw.reports__indicators``), then
loads the period folders from the watermark on: the watermark is the last period fully loaded,
and the latest loaded period is always read again, since resubmissions can arrive in it (the
natural key makes that safe: what was loaded counts as duplicate). Each period is landed as
read, validated with polars against the contract below, and committed in one transaction with
its rejected rows, its counts and the new watermark, so a run killed between periods loses
nothing and duplicates nothing.

A row is rejected, with a reason naming the field and its original text as payload, when it is
not UTF-8 (the payload is then decoded as Windows-1258; in the workbook, text that is UTF-8 read
as Latin-1), misses a required field, has a date that is malformed, impossible or out of range,
names a regime, a unit (agency directory ``reference/agencies.csv``, in force on the cut-off
day) or an indicator (of the regime) that does not exist, a period label that does not match its
dates, a value outside the indicator's range, or repeats an earlier row's key with other
values. A row read again — a duplicate within a file or one already loaded — is counted as a
duplicate, and so is a rejected row already recorded by an earlier run.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import re
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import Warehouse
from ingestion import landing, ledger
from ingestion.contract import Contract, Field
from ingestion.ledger import IngestResult, Rejection, RunCounts
from ingestion.loader import SQL_TYPES, RawTable, load_batch

log = logging.getLogger(__name__)

SOURCE = "reports.submissions"
REGIMES_SOURCE = "reports.regimes"
INDICATORS_SOURCE = "reports.indicators"
RAW_TABLE = "raw.reports__submissions"
REGIMES_TABLE = "raw.reports__regimes"
INDICATORS_TABLE = "raw.reports__indicators"
CATALOGUE_FILE = "regimes.json"
FORMATS = ("csv", "xlsx")
PERIOD_FOLDER = re.compile(r"^period=(\d{4}-\d{2})$")

# The export's columns, as the reporting system names them.
REGIME, REGIME_NAME, PERIOD, FROM, TO = (
    "Mã báo cáo", "Tên báo cáo", "Kỳ báo cáo", "Từ ngày", "Đến ngày",
)  # fmt: skip
UNIT, UNIT_NAME, INDICATOR, INDICATOR_NAME, MEASURE = (
    "Mã đơn vị", "Tên đơn vị", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính",
)  # fmt: skip
VALUE, DEADLINE, SUBMITTED, VERSION, STATUS = (
    "Giá trị", "Thời hạn nộp", "Thời điểm nộp", "Lần nộp", "Trạng thái",
)  # fmt: skip
COLUMNS = (REGIME, REGIME_NAME, PERIOD, FROM, TO, UNIT, UNIT_NAME, INDICATOR, INDICATOR_NAME,
           MEASURE, VALUE, DEADLINE, SUBMITTED, VERSION, STATUS)  # fmt: skip
DATE_COLUMNS = (FROM, TO, DEADLINE)
TEXT_COLUMNS = tuple(c for c in COLUMNS if c not in (*DATE_COLUMNS, SUBMITTED, VALUE, VERSION))
KEY_COLUMNS = (REGIME, PERIOD, UNIT, INDICATOR, VERSION)

SUBMITTED_STATUS, REPLACED_STATUS, NOT_SUBMITTED_STATUS = "Đã nộp", "Đã thay thế", "Chưa nộp"
STATUSES = (SUBMITTED_STATUS, REPLACED_STATUS, NOT_SUBMITTED_STATUS)
FREQUENCIES = ("monthly", "quarterly", "semi_annual", "annual")
INDICATOR_TYPES = ("integer", "money_vnd", "percentage")
WHOLE_TYPES = ("integer", "money_vnd")
# Period labels each frequency files (semi-annual regimes file the 6-month and annual reports).
PERIOD_KINDS = {"monthly": ("month",), "quarterly": ("quarter",),
                "semi_annual": ("six_months", "year"), "annual": ("year",)}  # fmt: skip
DATE_FORMAT, DATETIME_FORMAT = "%d/%m/%Y", "%d/%m/%Y %H:%M:%S"
DATE_PATTERN = r"^\d{2}/\d{2}/\d{4}$"
DATETIME_PATTERN = r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$"
DEADLINE_WINDOW_DAYS = 62  # a deadline falls within this many days after the cut-off
LATEST_SUBMISSION_DAYS = 366  # a submission more than a year after the cut-off is not credible

BOM = b"\xef\xbb\xbf"
WORKBOOK_SHEET = "Dữ liệu"
WORKBOOK_HEADER_ROW = 7  # 1-based; the title block is rows 1-5
# UTF-8 read as Latin-1: a lead byte (Â..ô) followed by a continuation byte (U+0080..U+00BF).
MOJIBAKE = "[\u00c2-\u00f4][\u0080-\u00bf]"

SUBMISSION_CONTRACT = Contract(
    source=SOURCE,
    fields=(
        Field(REGIME, required=True, codes="regimes", description="Regime code"),
        Field(REGIME_NAME, required=True, description="Regime name"),
        Field(PERIOD, required=True, description="Period label: Tháng 07/2025, Quý III/2025, ..."),
        Field(FROM, required=True, pattern=DATE_PATTERN, timestamp_format=DATE_FORMAT,
              description="First day of the period"),
        Field(TO, required=True, pattern=DATE_PATTERN, timestamp_format=DATE_FORMAT,
              description="Cut-off: last day of the period"),
        Field(UNIT, required=True, codes="agencies",
              description="Reporting agency's electronic identifier code"),
        Field(UNIT_NAME, required=True, description="Reporting agency's name"),
        Field(INDICATOR, required=True, codes="indicators", description="Indicator code"),
        Field(INDICATOR_NAME, required=True, description="Indicator name"),
        Field(MEASURE, required=True, description="Unit of measure"),
        Field(VALUE, description="Value; empty when not submitted"),
        Field(DEADLINE, required=True, pattern=DATE_PATTERN, timestamp_format=DATE_FORMAT,
              description="Deadline day, inclusive"),
        Field(SUBMITTED, pattern=DATETIME_PATTERN, timestamp_format=DATETIME_FORMAT,
              description="Submission time (local); empty when not submitted"),
        Field(VERSION, pattern=r"^[1-9]\d*$", description="Version 1, 2, ...; empty when not "
              "submitted"),
        Field(STATUS, required=True, allowed=STATUSES, description="Đã nộp, Đã thay thế, Chưa nộp"),
    ),
)  # fmt: skip

REGIME_CONTRACT = Contract(
    source=REGIMES_SOURCE,
    fields=(
        Field("code", required=True),
        Field("name", required=True),
        Field("frequency", required=True, allowed=FREQUENCIES),
        Field("deadline_rule", allowed=("day", "wd")),
    ),
)
INDICATOR_CONTRACT = Contract(
    source=INDICATORS_SOURCE,
    fields=(
        Field("code", required=True),
        Field("name", required=True),
        Field("unit", required=True),
        Field("type", required=True, allowed=INDICATOR_TYPES),
        Field("min_value", pl.Float64, required=True),
        Field("max_value", pl.Float64, required=True),
    ),
)

SUBMISSIONS = RawTable(
    name=RAW_TABLE,
    schema=pa.schema(
        [
            ("regime_code", pa.string()),
            ("regime_name", pa.string()),
            ("period_label", pa.string()),
            ("period_start", pa.date32()),
            ("period_end", pa.date32()),
            ("unit_code", pa.string()),
            ("unit_name", pa.string()),
            ("indicator_code", pa.string()),
            ("indicator_name", pa.string()),
            ("indicator_unit", pa.string()),
            ("value", pa.float64()),
            ("deadline", pa.date32()),
            ("submitted_at", pa.timestamp("us")),
            ("version", pa.int64()),
            ("status", pa.string()),
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
        ]
    ),
    natural_key=("regime_code", "period_label", "unit_code", "indicator_code", "version"),
)
REGIMES_SCHEMA = pa.schema(
    [
        ("code", pa.string()),
        ("name", pa.string()),
        ("issuing_body", pa.string()),
        ("frequency", pa.string()),
        ("reporting_kinds", pa.string()),  # JSON
        ("departments", pa.string()),  # JSON
        ("deadline_rule", pa.string()),
        ("deadline_value", pa.int64()),
        ("indicator_codes", pa.string()),  # JSON
    ]
)
REGIMES_JSON = ("reporting_kinds", "departments", "indicator_codes")
INDICATORS_SCHEMA = pa.schema(
    [
        ("code", pa.string()),
        ("name", pa.string()),
        ("unit", pa.string()),
        ("type", pa.string()),
        ("min_value", pa.float64()),
        ("max_value", pa.float64()),
    ]
)


# -- reference data --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reference:
    """What a submission row is checked against: the catalogue and the agency directory."""

    regimes: pl.DataFrame  # code, name, frequency, indicator_codes (list)
    indicators: pl.DataFrame  # code, name, unit, type, min_value, max_value
    agencies: pl.DataFrame | None  # code, valid_from, valid_to; None when there is no directory

    @property
    def codes(self) -> dict[str, list[str]]:
        codes = {
            "regimes": self.regimes["code"].to_list(),
            "indicators": self.indicators["code"].to_list(),
        }
        if self.agencies is not None:
            codes["agencies"] = self.agencies["code"].unique().to_list()
        return codes


def agencies_path(settings: Settings) -> Path | None:
    """The agency directory beside the exports: ``<sources>/reference/agencies.csv``."""
    candidates = (
        settings.reports_export_dir.parent / "reference" / "agencies.csv",
        settings.sources_dir / "reference" / "agencies.csv",
    )
    return next((path for path in candidates if path.is_file()), None)


def read_agencies(path: Path | None) -> pl.DataFrame | None:
    """Codes with their validity (an electronic identifier code can name two agencies in turn)."""
    if path is None:
        return None
    frame = pl.read_csv(path, infer_schema=False)
    missing = {"MaDinhDanh", "HieuLucTu", "HieuLucDen"} - set(frame.columns)
    if missing:
        raise SourceError(f"{path}: the agency directory lacks {', '.join(sorted(missing))}")
    return frame.select(
        code=pl.col("MaDinhDanh"),
        valid_from=pl.col("HieuLucTu").str.to_date("%Y-%m-%d", strict=False),
        valid_to=pl.col("HieuLucDen").str.to_date("%Y-%m-%d", strict=False),
    ).filter(pl.col("code").is_not_null())


# -- the catalogue ---------------------------------------------------------------------------


def _json_text(value: object) -> str | None:
    return None if value is None else ledger.dumps(value)


def read_catalogue(
    path: Path,
) -> tuple[pl.DataFrame, list[Rejection], pl.DataFrame, list[Rejection], int, int]:
    """(regimes, their rejections, indicators, their rejections, regimes read, indicators read)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        regimes, indicators = document["regimes"], document["indicators"]
        if not isinstance(regimes, list) or not isinstance(indicators, list):
            raise TypeError("regimes and indicators must be lists")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SourceError(f"{SOURCE}: cannot read the catalogue {path}: {error}") from error

    def text(record: object, name: str) -> str | None:
        value = record.get(name) if isinstance(record, dict) else None
        return None if value is None else str(value)

    def number(record: object, name: str) -> float | None:
        value = record.get(name) if isinstance(record, dict) else None
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else None

    indicator_frame = pl.DataFrame(
        {
            "code": [text(i, "code") for i in indicators],
            "name": [text(i, "name") for i in indicators],
            "unit": [text(i, "unit") for i in indicators],
            "type": [text(i, "type") for i in indicators],
            "min_value": [number(i, "min") for i in indicators],
            "max_value": [number(i, "max") for i in indicators],
            "_i": list(range(len(indicators))),
        },
        schema={"code": pl.String, "name": pl.String, "unit": pl.String, "type": pl.String,
                "min_value": pl.Float64, "max_value": pl.Float64, "_i": pl.Int64},
    )  # fmt: skip
    valid_indicators, bad = INDICATOR_CONTRACT.split(
        indicator_frame,
        extra_checks=[(pl.col("min_value") > pl.col("max_value"), "min: above max"),
                      (~pl.col("code").is_first_distinct(), "code: listed twice")],
    )  # fmt: skip
    indicator_rejections = [
        Rejection(code, reason, ledger.dumps(indicators[i]))
        for code, reason, i in bad.select("code", "_reason", "_i").iter_rows()
    ]
    known = set(valid_indicators["code"].to_list())

    def codes_of(record: object) -> list[str] | None:
        value = record.get("indicators") if isinstance(record, dict) else None
        return [str(c) for c in value] if isinstance(value, list) else None

    def deadline(record: object, part: str) -> object:
        value = record.get("deadline") if isinstance(record, dict) else None
        return value.get(part) if isinstance(value, dict) else None

    lists = [codes_of(r) for r in regimes]
    regime_frame = pl.DataFrame(
        {
            "code": [text(r, "code") for r in regimes],
            "name": [text(r, "name") for r in regimes],
            "issuing_body": [text(r, "issuing_body") for r in regimes],
            "frequency": [text(r, "frequency") for r in regimes],
            "reporting_kinds": [_json_text(r.get("reporting_kinds")) if isinstance(r, dict)
                                else None for r in regimes],
            "departments": [_json_text(r.get("departments")) if isinstance(r, dict) else None
                            for r in regimes],
            "deadline_rule": [None if (v := deadline(r, "rule")) is None else str(v)
                              for r in regimes],
            "deadline_value": [v if isinstance(v := deadline(r, "value"), int) else None
                               for r in regimes],
            "indicator_list": lists,
            "_unknown": [codes is None or not codes or not set(codes) <= known for codes in lists],
            "_i": list(range(len(regimes))),
        },
        schema={"code": pl.String, "name": pl.String, "issuing_body": pl.String,
                "frequency": pl.String, "reporting_kinds": pl.String, "departments": pl.String,
                "deadline_rule": pl.String, "deadline_value": pl.Int64,
                "indicator_list": pl.List(pl.String), "_unknown": pl.Boolean, "_i": pl.Int64},
    )  # fmt: skip
    valid_regimes, bad = REGIME_CONTRACT.split(
        regime_frame,
        extra_checks=[
            (pl.col("_unknown"), "indicators: empty or naming an indicator not in the catalogue"),
            (~pl.col("code").is_first_distinct(), "code: listed twice"),
        ],
    )
    regime_rejections = [
        Rejection(code, reason, ledger.dumps(regimes[i]))
        for code, reason, i in bad.select("code", "_reason", "_i").iter_rows()
    ]
    valid_regimes = valid_regimes.with_columns(
        indicator_codes=pl.col("indicator_list").map_elements(
            lambda codes: ledger.dumps(list(codes)), return_dtype=pl.String
        )
    )
    return (
        valid_regimes.drop("_unknown", "_i"),
        regime_rejections,
        valid_indicators.drop("_i"),
        indicator_rejections,
        len(regimes),
        len(indicators),
    )


def _snapshot_ddl(warehouse: Warehouse, table: str, schema: pa.Schema, json_columns: tuple[str, ...]
                  ) -> None:  # fmt: skip
    json_type = "jsonb" if warehouse.dialect == "postgres" else "json"
    columns = ", ".join(
        f'"{f.name}" {json_type if f.name in json_columns else SQL_TYPES[f.type]}' for f in schema
    )
    warehouse.execute(
        f"create table if not exists {table} ({columns}, _run_id varchar not null, "
        "_loaded_at timestamp not null)"
    )


def _canonical(row: tuple, schema: pa.Schema, json_columns: tuple[str, ...]) -> tuple:
    values = []
    for f, value in zip(schema, row, strict=True):
        if f.name in json_columns and value is not None:
            value = json.dumps(json.loads(value) if isinstance(value, str) else value,
                               sort_keys=True, ensure_ascii=False)  # fmt: skip
        values.append(value)
    return tuple(values)


def _replace_snapshot(
    warehouse: Warehouse,
    run_id: str,
    table: str,
    schema: pa.Schema,
    json_columns: tuple[str, ...],
    frame: pl.DataFrame,
) -> tuple[int, int]:
    """Replace the snapshot when it changed; (rows new or changed, rows unchanged)."""
    names = [f.name for f in schema]
    new = [_canonical(r, schema, json_columns) for r in frame.select(names).iter_rows()]
    quoted = ", ".join(f'"{n}"' for n in names)
    current = {
        _canonical(r, schema, json_columns)
        for r in warehouse.fetch(f"select {quoted} from {table}")
    }
    unchanged = sum(row in current for row in new)
    if set(new) != current or len(new) != len(current):
        data = frame.select(names).to_arrow().cast(schema)
        now = ledger.utc_now()
        data = data.append_column("_run_id", pa.array([run_id] * data.num_rows, pa.string()))
        data = data.append_column("_loaded_at", pa.array([now] * data.num_rows, pa.timestamp("us")))
        warehouse.execute(f"delete from {table}")
        if data.num_rows:
            warehouse.append(table, data)
    return len(new) - unchanged, unchanged


# -- reading the exports ---------------------------------------------------------------------


@dataclass(slots=True)
class Batch:
    """One export file as read: rows as text, rows that are not UTF-8, lines to land."""

    file: str  # path relative to the sources directory, as the reporting system names it
    rows: pl.DataFrame  # ROW_SCHEMA: COLUMNS as text (null when empty), where each row was
    broken: list[Rejection] = field(default_factory=list)
    landed: pa.Table | None = None
    texts: list[str | None] | None = None  # a CSV's lines as decoded, to show rejected rows

    def text(self, first: int, last: int) -> str | None:
        """The CSV lines ``first``..``last`` (1-based) as read; None for a workbook."""
        if self.texts is None:
            return None
        return "\n".join(t or "" for t in self.texts[first - 1 : last])

    @property
    def read(self) -> int:
        return self.rows.height + len(self.broken)


def _record_key(fields: Mapping[str, object]) -> str:
    parts = [fields.get(c) for c in KEY_COLUMNS]
    return "|".join("" if p is None else str(p) for p in parts[:-1]) + f"|{parts[-1] or 0}"


def _payload(file: str, line: int, fields: Mapping[str, object], **extra: object) -> str:
    """The original row: where it was read, then its fields by column (``file`` comes first)."""
    return ledger.dumps({"file": file, "line": line, **extra, "fields": dict(fields)})


ROW_SCHEMA = {c: pl.String for c in COLUMNS} | {
    "_line": pl.Int64, "_last_line": pl.Int64,  # CSV lines (first, last) of the row, header = 1
    "_sheet": pl.String, "_row": pl.Int64,  # in a workbook, where the row is
}  # fmt: skip


def _header(names: list[str], file: str) -> list[str]:
    names = [n.strip() for n in names]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise SourceError(f"{SOURCE}: {file} lacks the columns {', '.join(missing)}")
    return names


def read_csv_export(path: Path, file: str) -> Batch:
    """Read a CSV export line by line, so a line that is not UTF-8 is isolated and kept."""
    data = path.read_bytes()
    body = data[len(BOM) :] if data.startswith(BOM) else data
    physical = body.split(b"\n")
    if physical and physical[-1] == b"":
        physical.pop()
    raw_lines = [line[:-1] if line.endswith(b"\r") else line for line in physical]
    try:
        texts: list[str | None] = [
            t.removesuffix("\r") for t in body.decode("utf-8").split("\n")[: len(raw_lines)]
        ]
    except UnicodeDecodeError:
        texts = []
        for line in raw_lines:
            try:
                texts.append(line.decode("utf-8"))
            except UnicodeDecodeError:
                texts.append(None)
    landed = landing.lines_table(raw_lines, file)
    if not texts or texts[0] is None:
        raise SourceError(f"{SOURCE}: {file} has no UTF-8 header line")

    broken: list[Rejection] = []
    good = [(n, t) for n, t in enumerate(texts, start=1) if t is not None]
    reader = csv.reader(t for _, t in good)
    header = _header(next(reader), file)
    width = len(header)
    records: list[list[str]] = []
    starts: list[int] = []
    ends: list[int] = []
    consumed = reader.line_num
    for fields in reader:
        # A quoted field may span lines: the record is every line the reader consumed.
        first, end = consumed, reader.line_num
        consumed = end
        number = good[first][0]
        if len(fields) != width:
            text = "\n".join(t for _, t in good[first:end])
            named = dict(zip(header, fields, strict=False))
            broken.append(Rejection(
                _record_key(named),
                f"row: {len(fields)} fields where the header has {width} (a separator is "
                "missing or extra)",
                _payload(file, number, named, text=text),
            ))  # fmt: skip
            continue
        records.append(fields)
        starts.append(number)
        ends.append(good[end - 1][0])
    transposed = list(zip(*records, strict=True)) if records else [()] * width
    rows = pl.DataFrame(
        {name: transposed[header.index(name)] for name in COLUMNS}
        | {"_line": starts, "_last_line": ends},
        schema={c: ROW_SCHEMA[c] for c in (*COLUMNS, "_line", "_last_line")},
    ).with_columns(
        *(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in COLUMNS),
        _sheet=pl.lit(None, pl.String),
        _row=pl.lit(None, pl.Int64),
    )

    for number, (line, text) in enumerate(zip(raw_lines, texts, strict=True), start=1):
        if text is not None:
            continue
        decoded = unicodedata.normalize("NFC", line.decode("cp1258", errors="replace"))
        fields = next(csv.reader([decoded]), [])
        named = {name: (value or None) for name, value in zip(header, fields, strict=False)}
        broken.append(Rejection(
            _record_key(named),
            "row: text encoding is not UTF-8 (kept decoded as Windows-1258)",
            _payload(file, number, named, text=decoded, encoding="not UTF-8, decoded as cp1258"),
        ))  # fmt: skip
    return Batch(file, rows, broken, landed, texts)


def _workbook_sheets(names: list[str]) -> list[str]:
    pattern = re.compile(rf"^{re.escape(WORKBOOK_SHEET)}( \(\d+\))?$")
    return sorted(
        (n for n in names if pattern.match(n)),
        key=lambda n: int(n.rsplit("(", 1)[1].rstrip(")")) if "(" in n else 1,
    )


def _repair(text: str) -> str | None:
    """The text that was UTF-8 read as Latin-1, or None when ``text`` is not such a text."""
    try:
        repaired = text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return None
    return repaired if repaired != text else None


def read_excel_export(path: Path, file: str) -> Batch:
    """Read every data sheet of a workbook into the CSV's text form (dates as dd/mm/yyyy)."""
    import fastexcel  # polars' default Excel engine (calamine)

    try:
        reader = fastexcel.read_excel(path)
    except Exception as error:
        raise SourceError(f"{SOURCE}: cannot open the workbook {file}: {error}") from error
    sheets = _workbook_sheets(reader.sheet_names)
    if not sheets:
        raise SourceError(f"{SOURCE}: {file} has no sheet named {WORKBOOK_SHEET!r}")
    header_index = WORKBOOK_HEADER_ROW - 1
    frames, landed_lines = [], [ledger.dumps(list(COLUMNS)).encode()]
    line = 1
    for sheet in sheets:
        text = reader.load_sheet(
            sheet, header_row=header_index, skip_rows=0, dtypes="string"
        ).to_polars()
        _header(text.columns, f"{file} sheet {sheet!r}")
        present = [c for c in (*DATE_COLUMNS, SUBMITTED) if c in text.columns]
        dates = reader.load_sheet(
            sheet, header_row=header_index, skip_rows=0, use_columns=present,
            dtypes=dict.fromkeys(present, "datetime"), dtype_coercion="coerce",
        ).to_polars()  # fmt: skip
        if dates.height != text.height:
            raise SourceError(f"{SOURCE}: {file} sheet {sheet!r}: rows read twice differ")
        # A date cell becomes the CSV's text; a text cell (a malformed date) stays as it is.
        text = text.with_columns(
            pl.when(dates[c].is_not_null())
            .then(dates[c].dt.round("1s").dt.strftime(
                DATETIME_FORMAT if c == SUBMITTED else DATE_FORMAT))
            .otherwise(text[c])
            .alias(c)
            for c in present
        )  # fmt: skip
        text = text.select(COLUMNS).with_columns(
            _line=pl.int_range(line + 1, line + 1 + text.height, dtype=pl.Int64),
            _last_line=pl.int_range(line + 1, line + 1 + text.height, dtype=pl.Int64),
            _sheet=pl.lit(sheet),
            _row=pl.int_range(WORKBOOK_HEADER_ROW + 1, WORKBOOK_HEADER_ROW + 1 + text.height,
                              dtype=pl.Int64),
        )  # fmt: skip
        line += text.height
        frames.append(text)
        landed_lines += [ledger.dumps(r).encode() for r in text.select(COLUMNS).iter_rows()]
    rows = pl.concat(frames) if frames else pl.DataFrame(schema=ROW_SCHEMA)
    rows = rows.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in COLUMNS)
    rows = rows.filter(pl.any_horizontal(pl.col(c).is_not_null() for c in COLUMNS))  # no blanks

    # Text that is UTF-8 read as Latin-1: flagged by a pattern, confirmed row by row.
    flagged = rows.filter(pl.any_horizontal(pl.col(c).str.contains(MOJIBAKE) for c in TEXT_COLUMNS))
    broken_lines: list[int] = []
    broken: list[Rejection] = []
    for record in flagged.iter_rows(named=True):
        repaired = {c: _repair(v) if isinstance(v, str) else None for c, v in record.items()
                    if c in COLUMNS}  # fmt: skip
        if not any(repaired.values()):
            continue
        fields = {c: record[c] for c in COLUMNS}
        broken_lines.append(record["_line"])
        broken.append(Rejection(
            _record_key({c: repaired[c] or fields[c] for c in COLUMNS}),
            "row: text encoding is not UTF-8 (UTF-8 text read as Latin-1)",
            _payload(file, record["_line"], fields, sheet=record["_sheet"], row=record["_row"],
                     encoding="UTF-8 read as Latin-1",
                     repaired={c: v for c, v in repaired.items() if v is not None}),
        ))  # fmt: skip
    rows = rows.filter(~pl.col("_line").is_in(broken_lines))
    return Batch(file, rows, broken, landing.lines_table(landed_lines, file))


# -- validation ------------------------------------------------------------------------------


def _period_bounds() -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(kind, first day, cut-off) of the period a label names (Decree 09/2019 Art. 12)."""
    label = pl.col(PERIOD)
    month = label.str.extract(r"^Tháng (\d{2})/\d{4}$").cast(pl.Int32, strict=False)
    quarter = label.str.extract(r"^Quý (I|II|III|IV)/\d{4}$").replace_strict(
        {"I": 1, "II": 2, "III": 3, "IV": 4}, default=None, return_dtype=pl.Int32
    )
    six = label.str.contains(r"^6 tháng/\d{4}$")
    year_label = label.str.contains(r"^Năm \d{4}$")
    year = label.str.extract(r"(\d{4})$").cast(pl.Int32, strict=False)
    kind = (
        pl.when(month.is_between(1, 12)).then(pl.lit("month"))
        .when(quarter.is_not_null()).then(pl.lit("quarter"))
        .when(six).then(pl.lit("six_months"))
        .when(year_label).then(pl.lit("year"))
    )  # fmt: skip
    end_month = (
        pl.when(kind == "month").then(month)
        .when(kind == "quarter").then(quarter * 3)
        .when(kind == "six_months").then(pl.lit(6))
        .when(kind == "year").then(pl.lit(12))
    )  # fmt: skip
    months = (
        pl.when(kind == "month").then(pl.lit(1))
        .when(kind == "quarter").then(pl.lit(3))
        .when(kind == "six_months").then(pl.lit(6))
        .when(kind == "year").then(pl.lit(12))
    )  # fmt: skip
    start_index = year * 12 + end_month - 1 - months
    start = pl.date(start_index // 12, start_index % 12 + 1, 15)
    end = pl.date(year, end_month, 14)
    return kind, start, end


def _lookup(column: str, frame: pl.DataFrame, value: str, dtype: pl.DataType) -> pl.Expr:
    mapping = dict(zip(frame["code"].to_list(), frame[value].to_list(), strict=True))
    return pl.col(column).replace_strict(mapping, default=None, return_dtype=dtype)


def validate(rows: pl.DataFrame, reference: Reference) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid rows with typed ``_`` columns, rejected rows with ``_reason``), in file order."""
    kind, start, end = _period_bounds()
    regimes, indicators = reference.regimes, reference.indicators
    pairs = [f"{code}|{i}" for code, codes in regimes.select("code", "indicator_list").iter_rows()
             for i in codes]  # fmt: skip
    frequency_kinds = [f"{freq}|{k}" for freq, ks in PERIOD_KINDS.items() for k in ks]
    frame = rows.with_columns(
        _from=pl.col(FROM).str.strptime(pl.Date, DATE_FORMAT, strict=False),
        _to=pl.col(TO).str.strptime(pl.Date, DATE_FORMAT, strict=False),
        _deadline=pl.col(DEADLINE).str.strptime(pl.Date, DATE_FORMAT, strict=False),
        _submitted=pl.col(SUBMITTED).str.strptime(pl.Datetime("us"), DATETIME_FORMAT, strict=False),
        _value=pl.col(VALUE).str.strip_chars().cast(pl.Float64, strict=False),
        _version=pl.col(VERSION).cast(pl.Int64, strict=False).fill_null(0),
        _kind=kind,
        _start=start,
        _end=end,
        _regime_name=_lookup(REGIME, regimes, "name", pl.String()),
        _frequency=_lookup(REGIME, regimes, "frequency", pl.String()),
        _indicator_name=_lookup(INDICATOR, indicators, "name", pl.String()),
        _measure=_lookup(INDICATOR, indicators, "unit", pl.String()),
        _type=_lookup(INDICATOR, indicators, "type", pl.String()),
        _min=_lookup(INDICATOR, indicators, "min_value", pl.Float64()),
        _max=_lookup(INDICATOR, indicators, "max_value", pl.Float64()),
        _pair=pl.concat_str(REGIME, INDICATOR, separator="|").is_in(pairs),
    ).with_row_index("_i")
    if reference.agencies is not None:
        in_force = (
            frame.select("_i", UNIT, "_to")
            .join(reference.agencies, left_on=UNIT, right_on="code")
            .filter((pl.col("valid_from").is_null() | (pl.col("valid_from") <= pl.col("_to")))
                    & (pl.col("valid_to").is_null() | (pl.col("_to") <= pl.col("valid_to"))))
        )["_i"].unique()  # fmt: skip
        frame = frame.with_columns(_in_force=pl.col("_i").is_in(in_force.implode()))
    else:
        frame = frame.with_columns(_in_force=pl.lit(True))

    submitted = pl.col(STATUS).is_in([SUBMITTED_STATUS, REPLACED_STATUS])
    checks: list[tuple[pl.Expr, str]] = [
        *[(submitted & pl.col(c).is_null(),
           f"missing required field {c} (required once the report is submitted)")
          for c in (VALUE, SUBMITTED, VERSION)],
        ((pl.col(STATUS) == NOT_SUBMITTED_STATUS)
         & pl.any_horizontal(pl.col(c).is_not_null() for c in (VALUE, SUBMITTED, VERSION)),
         f"{STATUS}: {NOT_SUBMITTED_STATUS} but {VALUE}, {SUBMITTED} or {VERSION} is filled"),
        (pl.col(REGIME_NAME) != pl.col("_regime_name"),
         f"{REGIME_NAME}: does not match the regime catalogue"),
        (pl.col("_kind").is_null(),
         f"{PERIOD}: not a period label (Tháng MM/YYYY, Quý I-IV/YYYY, 6 tháng/YYYY, Năm YYYY)"),
        ((pl.col("_start") != pl.col("_from")) | (pl.col("_end") != pl.col("_to")),
         f"{PERIOD}: does not match {FROM} and {TO}"),
        (~pl.concat_str("_frequency", "_kind", separator="|").is_in(frequency_kinds),
         f"{PERIOD}: not a period of the regime's frequency"),
        (~pl.col("_in_force"), f"{UNIT}: no agency with this code in force on {TO}"),
        (~pl.col("_pair"), f"{INDICATOR}: not an indicator of the regime ({REGIME})"),
        (pl.col(INDICATOR_NAME) != pl.col("_indicator_name"),
         f"{INDICATOR_NAME}: does not match the indicator catalogue"),
        (pl.col(MEASURE) != pl.col("_measure"),
         f"{MEASURE}: does not match the indicator catalogue"),
        (pl.col(VALUE).is_not_null() & pl.col("_value").is_null(), f"{VALUE}: not a number"),
        (pl.col("_value") < pl.col("_min"), f"{VALUE}: below the indicator's minimum"),
        (pl.col("_value") > pl.col("_max"), f"{VALUE}: above the indicator's maximum"),
        (pl.col("_type").is_in(WHOLE_TYPES) & (pl.col("_value") != pl.col("_value").floor()),
         f"{VALUE}: not a whole number (a count or an amount)"),
        ((pl.col("_deadline") <= pl.col("_to"))
         | (pl.col("_deadline") > pl.col("_to") + pl.duration(days=DEADLINE_WINDOW_DAYS)),
         f"{DEADLINE}: out of range (not within {DEADLINE_WINDOW_DAYS} days after {TO})"),
        ((pl.col("_submitted").dt.date() < pl.col("_from"))
         | (pl.col("_submitted").dt.date()
            > pl.col("_to") + pl.duration(days=LATEST_SUBMISSION_DAYS)),
         f"{SUBMITTED}: out of range (before {FROM} or over {LATEST_SUBMISSION_DAYS} days after "
         f"{TO})"),
    ]  # fmt: skip
    contract = SUBMISSION_CONTRACT
    if reference.agencies is None:
        contract = dataclasses.replace(
            contract,
            fields=tuple(dataclasses.replace(f, codes=None) if f.name == UNIT else f
                         for f in contract.fields),
        )  # fmt: skip
    valid, rejected = contract.split(frame, reference.codes, checks)
    # The same row twice is a duplicate (counted, not loaded); the same key with other values
    # is a conflict, rejected: the first row read stands.
    valid = valid.filter(pl.struct(COLUMNS).is_first_distinct())
    conflicting = ~pl.struct(*KEY_COLUMNS[:-1], "_version").is_first_distinct()
    conflicts = valid.filter(conflicting).with_columns(
        _reason=pl.lit(f"{', '.join(KEY_COLUMNS)}: the same report row was read earlier with "
                       "other values")
    )  # fmt: skip
    valid = valid.filter(~conflicting)
    return valid, pl.concat([rejected, conflicts]).sort("_i")


def to_raw(valid: pl.DataFrame, file: str) -> pa.Table:
    frame = valid.select(
        regime_code=pl.col(REGIME),
        regime_name=pl.col(REGIME_NAME),
        period_label=pl.col(PERIOD),
        period_start=pl.col("_from"),
        period_end=pl.col("_to"),
        unit_code=pl.col(UNIT),
        unit_name=pl.col(UNIT_NAME),
        indicator_code=pl.col(INDICATOR),
        indicator_name=pl.col(INDICATOR_NAME),
        indicator_unit=pl.col(MEASURE),
        value=pl.col("_value"),
        deadline=pl.col("_deadline"),
        submitted_at=pl.col("_submitted"),
        version=pl.col("_version"),
        status=pl.col(STATUS),
        source_file=pl.lit(file),
        source_line=pl.col("_line"),
    )
    return frame.to_arrow().cast(SUBMISSIONS.schema)


def rejections_of(rejected: pl.DataFrame, batch: Batch) -> list[Rejection]:
    result = []
    for record in rejected.iter_rows(named=True):
        fields = {c: record[c] for c in COLUMNS}
        where = ({"sheet": record["_sheet"], "row": record["_row"]} if record["_sheet"]
                 else {"text": batch.text(record["_line"], record["_last_line"])})  # fmt: skip
        payload = _payload(batch.file, record["_line"], fields, **where)
        result.append(Rejection(_record_key(fields), record["_reason"], payload))
    return result


# -- the run ---------------------------------------------------------------------------------


def period_folders(export_dir: Path) -> list[tuple[str, Path]]:
    """(YYYY-MM, folder) of every cut-off month exported, oldest first."""
    found = []
    for path in export_dir.iterdir() if export_dir.is_dir() else ():
        match = PERIOD_FOLDER.match(path.name)
        if match and path.is_dir():
            found.append((match[1], path))
    return sorted(found)


def _read_period(folder: Path, relative_to: Path, fmt: str) -> list[Batch]:
    files = sorted(folder.glob(f"*.{fmt}"))
    if not files:
        raise SourceError(f"{SOURCE}: {folder.name} has no .{fmt} export")
    reader = read_csv_export if fmt == "csv" else read_excel_export
    return [reader(path, path.relative_to(relative_to).as_posix()) for path in files]


def _already_rejected(warehouse: Warehouse, file: str) -> set[tuple[str, str]]:
    """(reason, payload) of the rows of ``file`` that earlier runs rejected."""
    prefix = ledger.dumps({"file": file})[:-1] + ","
    return set(
        warehouse.fetch(
            "select reason, payload from ops.rejected_records where source = ? and payload like ?",
            [SOURCE, prefix + "%"],
        )
    )


def _load_period(
    warehouse: Warehouse,
    run_id: str,
    period: str,
    batches: list[Batch],
    reference: Reference,
) -> RunCounts:
    """Validate and commit one period: batch, rejections, counts and watermark together."""
    prepared = []
    for batch in batches:
        valid, rejected = validate(batch.rows, reference)
        prepared.append((batch, to_raw(valid, batch.file),
                         batch.broken + rejections_of(rejected, batch)))  # fmt: skip
    counts = RunCounts()
    with warehouse.transaction():
        for batch, rows, rejections in prepared:
            seen = _already_rejected(warehouse, batch.file)
            new = [r for r in rejections if (r.reason, r.payload) not in seen]
            counts.add(load_batch(warehouse, run_id, SOURCE, SUBMISSIONS, rows, new, batch.read))
        ledger.write_watermark(warehouse, SOURCE, period)
        ledger.add_to_run(warehouse, run_id, SOURCE, counts, period)
    return counts


def ingest_catalogue(
    settings: Settings, warehouse: Warehouse, run_id: str
) -> tuple[list[IngestResult], pl.DataFrame, pl.DataFrame]:
    """Snapshot the regimes and indicators; returns the runs and the valid regimes, indicators."""
    started = time.monotonic()
    path = settings.reports_export_dir / CATALOGUE_FILE
    results = [IngestResult(s, run_id, "running") for s in (REGIMES_SOURCE, INDICATORS_SOURCE)]
    for result in results:
        ledger.start_run(warehouse, run_id, result.source, None)
    try:
        if not path.is_file():
            raise SourceError(f"{SOURCE}: no catalogue at {path}")
        lines = landing.lines_table(path.read_bytes().splitlines(), CATALOGUE_FILE)
        landing.land(settings, REGIMES_SOURCE, run_id, 0, lines)
        regimes, regime_rejections, indicators, indicator_rejections, n_regimes, n_indicators = (
            read_catalogue(path)
        )
        _snapshot_ddl(warehouse, REGIMES_TABLE, REGIMES_SCHEMA, REGIMES_JSON)
        _snapshot_ddl(warehouse, INDICATORS_TABLE, INDICATORS_SCHEMA, ())
        with warehouse.transaction():
            for result, table, schema, json_columns, frame, rejections, read in (
                (results[0], REGIMES_TABLE, REGIMES_SCHEMA, REGIMES_JSON, regimes,
                 regime_rejections, n_regimes),
                (results[1], INDICATORS_TABLE, INDICATORS_SCHEMA, (), indicators,
                 indicator_rejections, n_indicators),
            ):  # fmt: skip
                loaded, _unchanged = _replace_snapshot(
                    warehouse, run_id, table, schema, json_columns, frame
                )
                counts = RunCounts(read, loaded, len(rejections), read - loaded - len(rejections))
                ledger.reject(warehouse, run_id, result.source, rejections)
                ledger.add_to_run(warehouse, run_id, result.source, counts, None)
                result.counts = counts
    except Exception as error:
        for result in results:
            ledger.finish_run(warehouse, run_id, result.source, "failed", str(error)[:1000])
            result.status = "failed"
        raise
    for result in results:
        ledger.finish_run(warehouse, run_id, result.source, "success")
        result.status = "success"
        result.seconds = time.monotonic() - started
    return results, regimes, indicators


def ingest_reports(
    settings: Settings, warehouse: Warehouse, run_id: str | None = None, fmt: str | None = None
) -> list[IngestResult]:
    """Bring the reporting system's exports into the raw layer, from the watermark on.

    ``fmt`` chooses the export read: ``csv`` (the default, or ``settings.reports_format`` when
    the settings have it) or ``xlsx``. Returns one result per source: the regimes, the
    indicators and the submissions.
    """
    fmt = fmt or getattr(settings, "reports_format", None) or "csv"
    if fmt not in FORMATS:
        raise ValueError(f"unknown reports format {fmt!r}: expected one of {', '.join(FORMATS)}")
    run_id = run_id or ledger.new_run_id()
    ledger.ensure_ops_schema(warehouse)
    results, regimes, indicators = ingest_catalogue(settings, warehouse, run_id)

    started = time.monotonic()
    SUBMISSIONS.ensure(warehouse)
    watermark = ledger.read_watermark(warehouse, SOURCE)
    result = IngestResult(SOURCE, run_id, "running", watermark_from=watermark)
    ledger.start_run(warehouse, run_id, SOURCE, watermark)
    export_dir = settings.reports_export_dir
    part = 0
    try:
        agencies_file = agencies_path(settings)
        if agencies_file is None:
            log.warning(
                "%s: no agency directory (reference/agencies.csv) beside %s: unit codes are not "
                "checked against it", SOURCE, export_dir,
            )  # fmt: skip
        reference = Reference(regimes, indicators, read_agencies(agencies_file))
        # The latest period loaded is read again: resubmissions can arrive in it.
        todo = [
            (p, f) for p, f in period_folders(export_dir) if watermark is None or p >= watermark
        ]
        for period, folder in todo:
            batches = _read_period(folder, export_dir.parent, fmt)
            for batch in batches:
                if batch.landed is not None:
                    landing.land(settings, SOURCE, run_id, part, batch.landed)
                    part += 1
            counts = _load_period(warehouse, run_id, period, batches, reference)
            result.counts.add(counts)
            result.watermark_to = period
            log.info(
                "%s: period %s read %d, loaded %d, rejected %d, duplicate %d",
                SOURCE, period, counts.read, counts.loaded, counts.rejected, counts.duplicate,
            )  # fmt: skip
    except Exception as error:
        ledger.finish_run(warehouse, run_id, SOURCE, "failed", str(error)[:1000])
        result.status = "failed"
        raise
    ledger.finish_run(warehouse, run_id, SOURCE, "success")
    result.status = "success"
    result.watermark_to = result.watermark_to or watermark
    result.seconds = time.monotonic() - started
    return [*results, result]
