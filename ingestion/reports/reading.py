"""Reading an export file, CSV (UTF-8 with BOM, CRLF) or workbook, into rows as text, with the
rows that are not UTF-8 (or UTF-8 read as Latin-1) set aside with their reason."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from core.errors import SourceError
from ingestion import landing, ledger
from ingestion.ledger import Rejection
from ingestion.reports.contracts import (
    COLUMNS,
    DATE_COLUMNS,
    DATE_FORMAT,
    DATETIME_FORMAT,
    KEY_COLUMNS,
    SOURCE,
    SUBMITTED,
    TEXT_COLUMNS,
)

BOM = b"\xef\xbb\xbf"
WORKBOOK_SHEET = "Dữ liệu"
WORKBOOK_HEADER_ROW = 7  # 1-based; the title block is rows 1-5
# UTF-8 read as Latin-1: a lead byte (Â..ô) followed by a continuation byte (U+0080..U+00BF).
MOJIBAKE = "[\u00c2-\u00f4][\u0080-\u00bf]"


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


def record_key(fields: Mapping[str, object]) -> str:
    parts = [fields.get(c) for c in KEY_COLUMNS]
    return "|".join("" if p is None else str(p) for p in parts[:-1]) + f"|{parts[-1] or 0}"


def row_payload(file: str, line: int, fields: Mapping[str, object], **extra: object) -> str:
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
    while True:
        try:
            fields = next(reader)
            problem = None
        except StopIteration:
            break
        except csv.Error as error:  # e.g. a bare carriage return inside an unquoted field
            fields, problem = [], f"row: not a CSV record ({error})"
        # A quoted field may span lines: the record is every line the reader consumed.
        first, end = consumed, reader.line_num
        consumed = end
        if end <= first:  # nothing consumed: cannot happen, but never loop forever
            break
        number = good[first][0]
        if problem is not None:
            text = "\n".join(t for _, t in good[first:end])
            where = f"{file}:{number}"  # nothing identifies it: where it was
            broken.append(Rejection(where, problem, row_payload(file, number, {}, text=text)))
            continue
        if len(fields) != width:
            text = "\n".join(t for _, t in good[first:end])
            named = dict(zip(header, fields, strict=False))
            broken.append(Rejection(
                record_key(named),
                f"row: {len(fields)} fields where the header has {width} (a separator is "
                "missing or extra)",
                row_payload(file, number, named, text=text),
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
        try:
            fields = next(csv.reader([decoded]), [])
        except csv.Error:  # only to name the record: its text is kept whole anyway
            fields = []
        named = {name: (value or None) for name, value in zip(header, fields, strict=False)}
        broken.append(Rejection(
            record_key(named),
            "row: text encoding is not UTF-8 (kept decoded as Windows-1258)",
            row_payload(file, number, named, text=decoded, encoding="not UTF-8, decoded as cp1258"),
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
        try:
            dates = reader.load_sheet(
                sheet, header_row=header_index, skip_rows=0, use_columns=present,
                dtypes=dict.fromkeys(present, "datetime"), dtype_coercion="coerce",
            ).to_polars()  # fmt: skip
        except BaseException as error:  # calamine panics on a date serial out of range
            if type(error).__name__ != "PanicException":
                raise
            # The text load shows a date cell as ISO text (an out-of-range one as empty).
            dates = text.select(
                pl.col(c).str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
                for c in present
            )
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
            record_key({c: repaired[c] or fields[c] for c in COLUMNS}),
            "row: text encoding is not UTF-8 (UTF-8 text read as Latin-1)",
            row_payload(file, record["_line"], fields, sheet=record["_sheet"], row=record["_row"],
                     encoding="UTF-8 read as Latin-1",
                     repaired={c: v for c, v in repaired.items() if v is not None}),
        ))  # fmt: skip
    rows = rows.filter(~pl.col("_line").is_in(broken_lines))
    return Batch(file, rows, broken, landing.lines_table(landed_lines, file))
