"""Checking a page or block of lines: one DuckDB pass parses them into Arrow
(:func:`ingestion.lines.parse_objects`), polars validates the checked fields against the
contract, and the personal fields become keyed hashes; no record passes through Python."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from core.warehouse import Warehouse
from ingestion import ledger
from ingestion.contract import TIMESTAMP_FORMAT, Contract
from ingestion.ledger import Rejection
from ingestion.lines import (
    decode_for_storage,
    parse_objects,
    too_large,
    utf8_column,
)
from ingestion.procedures.contracts import (
    APPLICANT_KEY,
    DOSSIER_CONTRACT,
    EVENT_CONTRACT,
    PERSONAL_FIELDS,
    RAW_TABLE,
    CodeLists,
)


@dataclass(slots=True)
class Batch:
    """A page or block of lines, checked: raw rows to load and the rejected lines."""

    rows: pa.Table  # each version once
    rejections: list[Rejection]
    read: int
    stamps: pl.Series  # the loaded records' update times, for the watermark


Check = Callable[[pa.Array, Callable[[int], str] | None], Batch]


def parse_records(
    engine: duckdb.DuckDBPyConnection,
    lines: pa.Array,
    contract: Contract,
    checked: tuple[str, ...] | None = None,
    max_bytes: int | None = None,
) -> tuple[pa.Table, pl.DataFrame, list[tuple[int, str, str | None]]]:
    """(every line's fields, one row per line; the ``checked`` fields (else all) of the
    readable lines, for polars; (line index, reason, key) of the unreadable lines).

    A line over ``max_bytes`` is not parsed at all: it is rejected as too large."""
    texts, _ = utf8_column(lines)
    oversized = too_large(lines, max_bytes)
    if oversized:  # never parsed: null, like a line that is not UTF-8, then reasoned apart
        keep = np.ones(len(lines), dtype=bool)
        keep[list(oversized)] = False
        texts = pc.if_else(pa.array(keep), texts, pa.nulls(len(texts), texts.type))
    parsed = parse_objects(engine, texts, contract.scalar_fields, contract.json_fields,
                           contract.derived)  # fmt: skip
    wanted = parsed.column_names if checked is None else ["_i", "_problem", *checked]
    fields = pl.from_arrow(parsed.select(wanted))
    assert isinstance(fields, pl.DataFrame)
    unreadable = fields.filter(pl.col("_problem").is_not_null())
    problems = [(i, oversized.get(i, reason), None)
                for i, reason in unreadable.select("_i", "_problem").iter_rows()]  # fmt: skip
    return parsed, fields.filter(pl.col("_problem").is_null()).drop("_problem"), problems


def _rows_of(parsed: pa.Table, kept: pl.Series) -> pa.Table:
    """The parsed rows of the lines ``kept`` (ascending line indexes)."""
    if len(kept) == parsed.num_rows:  # every line (the usual batch): no copy
        return parsed
    return parsed.take(kept.to_arrow())


def rejections_of(
    lines: pa.Array,
    located: Callable[[int], str] | None,
    problems: list[tuple[int, str, str | None]],
) -> list[Rejection]:
    """Rejected lines with their reason, the original text and a key (else where they were)."""
    return [
        Rejection(key or (located(index) if located else None), reason,
                  decode_for_storage(lines[index].as_py()))
        for index, reason, key in sorted(problems)
    ]  # fmt: skip


# What the contract checks: only these fields of a record go to polars.
DOSSIER_CHECKED = tuple(f.name for f in DOSSIER_CONTRACT.fields if f.checked and not f.json)


def check_dossiers(
    engine: duckdb.DuckDBPyConnection,
    lines: pa.Array,
    codes: CodeLists,
    pseudonyms: ledger.Pseudonyms,
    located: Callable[[int], str] | None = None,
    max_bytes: int | None = None,
    latest: str | None = None,
) -> Batch:
    """Validate a batch of dossier lines and turn the valid ones into raw rows (``latest``:
    the latest acceptable update time, :func:`ingestion.contract.latest_acceptable`).

    Lines are parsed once by ``engine`` into Arrow; only the checked and personal fields go
    to polars, and the applicant becomes a keyed hash: no record passes through Python.
    """
    parsed, records, problems = parse_records(engine, lines, DOSSIER_CONTRACT,
                                       (*DOSSIER_CHECKED, *PERSONAL_FIELDS), max_bytes)  # fmt: skip
    valid, rejected = DOSSIER_CONTRACT.split(records, codes.as_mapping(), latest=latest)
    problems += list(rejected.select("_i", "_reason", "MaHoSo").iter_rows())
    # A version sent twice in one batch is loaded once (the copy counts as a duplicate).
    valid = valid.filter(pl.struct("MaHoSo", "NgayCapNhat").is_first_distinct())
    # The applicant: the identity number, else the name.
    identity = valid.select(
        pl.when(pl.col("SoGiayToChuHoSo") != "").then(pl.col("SoGiayToChuHoSo"))
        .otherwise(pl.col("ChuHoSo")).alias(APPLICANT_KEY)
    ).to_series()  # fmt: skip
    rows = _rows_of(parsed, valid["_i"]).select(list(DOSSIER_CONTRACT.stored_fields))
    # Timestamps typed here, beside the other checks: the load, which commits one batch after
    # another, stores them faster typed than as text (bench/README.md, procedures).
    for name, stamps in DOSSIER_CONTRACT.timestamps(valid).items():
        rows = rows.set_column(rows.schema.get_field_index(name), name, stamps.to_arrow())
    rows = rows.append_column(APPLICANT_KEY, pseudonyms.of(identity).to_arrow())
    return Batch(rows, rejections_of(lines, located, problems), len(lines), valid["NgayCapNhat"])


# Steps after reception cannot happen before the dossier was received.
AFTER_RECEPTION = 4
OUT_OF_ORDER = "ThoiDiemXuLy: out of order, before the dossier was received"


def receptions(warehouse: Warehouse, codes: pl.Series) -> pl.DataFrame:
    """When each of the dossiers was received, from the raw layer (MaHoSo, _received), as
    the portal writes it (yyyyMMddHHmmss), to compare with the events' text."""
    codes = codes.drop_nulls().unique()
    empty = pl.DataFrame(schema={"MaHoSo": pl.String, "_received": pl.String})
    if codes.is_empty():
        return empty
    with warehouse.staged(pa.table({"MaHoSo": codes.to_arrow()}), RAW_TABLE) as staged:
        rows = warehouse.fetch(
            f'select d."MaHoSo", min(d."NgayTiepNhan") from {RAW_TABLE} d '
            f'join {staged} c on d."MaHoSo" = c."MaHoSo" where d.province_code = ? group by 1',
            [ledger.province_of(warehouse)],
        )
    if not rows:
        return empty
    received = pl.DataFrame(rows, schema={"MaHoSo": pl.String, "_received": pl.Datetime("us")},
                            orient="row")  # fmt: skip
    return received.with_columns(pl.col("_received").dt.strftime(TIMESTAMP_FORMAT))


def check_events(
    engine: duckdb.DuckDBPyConnection,
    lines: pa.Array,
    received: Callable[[pl.Series], pl.DataFrame],
    pseudonyms: ledger.Pseudonyms,
    located: Callable[[int], str] | None = None,
    max_bytes: int | None = None,
    latest: str | None = None,
) -> Batch:
    """Validate progress events: the contract, then their place in the dossier's story."""
    _, records, problems = parse_records(engine, lines, EVENT_CONTRACT, max_bytes=max_bytes)
    records = records.join(
        received(records["MaHoSo"]), on="MaHoSo", how="left", maintain_order="left"
    )
    out_of_order = (
        (pl.col("TrangThai").cast(pl.Int64, strict=False) >= AFTER_RECEPTION)
        & pl.col("_received").is_not_null()
        & (pl.col("ThoiDiemXuLy") < pl.col("_received"))
    )
    valid, rejected = EVENT_CONTRACT.split(
        records, extra_checks=[(out_of_order, OUT_OF_ORDER)], latest=latest
    )
    problems += list(rejected.select("_i", "_reason", "MaHoSo").iter_rows())
    valid = valid.filter(pl.struct("MaHoSo", "TrangThai", "ThoiDiemXuLy").is_first_distinct())
    rows = valid.select(
        pl.col("MaHoSo").alias("record_key"),
        pl.col("TrangThai").cast(pl.Int64).alias("status"),
        pl.col("ThoiDiemXuLy").alias("occurred_at"),
        pl.col("PhongBanXuLy").alias("department"),
        pseudonyms.of(valid["NguoiXuLy"]).alias("handler_key"),
    )
    return Batch(rows.to_arrow(), rejections_of(lines, located, problems), len(lines),
                 valid["ThoiDiemXuLy"])  # fmt: skip
