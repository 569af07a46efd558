"""The register (``register.csv.gz``): one CSV row per outgoing document, read and checked."""

from __future__ import annotations

import csv
import io
from datetime import date

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from core.errors import SourceError
from ingestion.documents.agencies import AgencyDirectory
from ingestion.documents.checking import (
    Prepared,
    document_key_expr,
    parse_date,
    parse_stamp,
    rejections_of,
    split_valid,
)
from ingestion.documents.contracts import REGISTER_CHECKS, REGISTER_CONTRACT
from ingestion.documents.tables import REGISTER_SOURCE
from ingestion.ledger import Rejection
from ingestion.lines import Block, decode_for_storage

REGISTER_COLUMNS = (
    "document_id", "code_number", "code_notation", "sender_code", "receiver_codes",
    "receiver_count", "type_code", "type_name", "promulgation_date", "sent_at", "priority",
    "page_amount", "is_electronic", "is_signed", "is_secret",
)  # fmt: skip


def _register_frame(
    lines: Block, texts: pa.Array, good: list[int]
) -> tuple[pl.DataFrame, list[int]]:
    """Register rows as text columns (``_i`` = line index), and the lines not 15 CSV fields."""
    frame = None
    if good:
        kept = lines.lines if len(good) == len(lines) else lines.lines.take(pa.array(good))
        # The rows joined again in Arrow (no Python string per row) for polars' CSV reader.
        newline = pa.scalar(b"\n", pa.large_binary())
        body = pc.binary_join(pa.LargeListArray.from_arrays([0, len(kept)], kept), newline)
        try:
            frame = pl.read_csv(
                io.BytesIO(body[0].as_buffer()), has_header=False,
                new_columns=list(REGISTER_COLUMNS),
                schema={c: pl.String for c in REGISTER_COLUMNS}, quote_char='"',
            )  # fmt: skip
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError):
            frame = None
        if frame is not None and (
            frame.height != len(good) or frame[REGISTER_COLUMNS[-1]].null_count()
        ):
            frame = None  # a quoted newline or a short row: read the lines one by one
    if frame is not None or not good:
        frame = (
            frame
            if frame is not None
            else pl.DataFrame(schema={c: pl.String for c in REGISTER_COLUMNS})
        )
        return frame.with_columns(_i=pl.Series(good, dtype=pl.Int64)).with_columns(
            [pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c)
             for c in REGISTER_COLUMNS]
        ), []  # fmt: skip
    strings = texts.to_pylist()
    rows, ragged = [], []
    for index in good:
        fields = next(csv.reader([strings[index]]), [])
        if len(fields) != len(REGISTER_COLUMNS):
            ragged.append(index)
        else:
            rows.append([f or None for f in fields] + [index])
    frame = pl.DataFrame(
        rows, schema={**{c: pl.String for c in REGISTER_COLUMNS}, "_i": pl.Int64}, orient="row"
    )
    return frame, ragged


def prepare_register(
    lines: Block,
    texts: pa.Array,
    unreadable: dict[int, str],
    header: bytes | None,
    agencies: AgencyDirectory,
    batch: date,
) -> Prepared:
    columns = tuple(next(csv.reader([decode_for_storage(header or b"")]), []))
    if columns != REGISTER_COLUMNS:
        raise SourceError(
            f"documents: {lines.origin} has the header {','.join(columns)!r}, "
            f"expected {','.join(REGISTER_COLUMNS)!r}"
        )
    frame, ragged = _register_frame(
        lines, texts, [i for i in range(len(lines)) if i not in unreadable]
    )
    rejections = []
    for index, why in sorted(unreadable.items()):  # not UTF-8, or too large
        text = decode_for_storage(lines.line(index))
        rejections.append(Rejection(_register_salvage(text) or lines.location(index), why, text))
    for index in ragged:
        text = decode_for_storage(lines.line(index))
        reason = f"not a register row of {len(REGISTER_COLUMNS)} CSV fields"
        rejections.append(Rejection(_register_salvage(text) or lines.location(index), reason, text))
    frame = frame.with_columns(receivers=pl.col("receiver_codes").str.split(";"))
    day = parse_date("promulgation_date")
    senders = frame.select("_i", pl.lit(0).alias("_k"), pl.col("sender_code").alias("code"),
                           day.alias("day"))  # fmt: skip
    receivers = (
        frame.select("_i", "receivers", day.alias("day"))
        .with_columns(pl.int_ranges(pl.col("receivers").list.len()).alias("_k"))
        .explode("receivers", "_k")
        .select("_i", (pl.col("_k") + 1).alias("_k"), pl.col("receivers").alias("code"), "day")
    )
    valid, rejected = split_valid(
        REGISTER_CONTRACT, frame, agencies,
        [("sender_code", senders), ("receiver_codes", receivers)], REGISTER_CHECKS,
    )  # fmt: skip
    code = pl.when(
        pl.col("code_number").is_not_null() & pl.col("code_notation").is_not_null()
    ).then(pl.format("{}/{}", pl.col("code_number"), pl.col("code_notation")))
    rejections += rejections_of(
        lines, rejected, document_key_expr("document_id", "sender_code", "promulgation_date", code)
    )
    flag = {"0": False, "1": True}
    rows = valid.select(
        "_i", "document_id", "code_number", "code_notation", "sender_code", "receiver_codes",
        pl.col("receiver_count").cast(pl.Int64, strict=False),
        pl.col("type_code").cast(pl.Int64, strict=False), "type_name",
        parse_date("promulgation_date").alias("promulgation_date"),
        parse_stamp("sent_at").alias("sent_at"),
        pl.col("priority").cast(pl.Int64, strict=False),
        pl.col("page_amount").cast(pl.Int64, strict=False),
        *[pl.col(c).replace_strict(flag, return_dtype=pl.Boolean)
          for c in ("is_electronic", "is_signed", "is_secret")],
        pl.lit(batch, pl.Date).alias("batch_date"),
    )  # fmt: skip
    return Prepared(REGISTER_SOURCE, lines, rows, rejections)


def _register_salvage(text: str) -> str | None:
    """The document_id of a register row that could not be read (first quoted field)."""
    fields = next(csv.reader([text]), [])
    return fields[0] or None if fields else None
