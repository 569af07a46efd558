"""Checking one source of one day: the fields of every line (fast path, else parser), the
contract, the agency directory, and the rows to load with the rejected lines.

Lines that are not valid UTF-8 (the container format's encoding) or over the size limit
(``max_message_bytes`` for a document with its attachments, ``max_record_bytes`` for the rest)
are rejected first, their payload kept decoded as Windows-1258 (else Latin-1). Every
rejected record keeps its reason, the original line and a record key: the DocumentId
(``DocumentId|receiver|StatusCode`` for a status), rebuilt from the code parts when the
DocumentId element is missing, else ``<file>:<line>`` when nothing identifies the record.
The signer and the status's staff become keyed hashes here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from ingestion import ledger
from ingestion.contract import Contract
from ingestion.documents.agencies import AgencyDirectory
from ingestion.documents.contracts import (
    DATE_FORMAT,
    MESSAGE_CHECKS,
    MESSAGE_CONTRACT,
    STAMP_FORMAT,
    STATUS_CONTRACT,
)
from ingestion.documents.fastpath import accepted_fields
from ingestion.documents.grammar import MESSAGE_TAGS, STATUS_FIELDS
from ingestion.documents.slowpath import slow_message, slow_status, unreadable_key
from ingestion.documents.tables import MESSAGES_SOURCE, STATUS_SOURCE
from ingestion.ledger import Rejection
from ingestion.lines import Block, decode_for_storage


@dataclass(slots=True)
class Prepared:
    """One source of one daily batch, read and checked, ready to land and load."""

    source: str
    lines: Block
    rows: pl.DataFrame  # valid records, typed as the raw table (receivers as a list column)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.lines)


def _clean(column: pl.Expr, unescape: bool = True) -> pl.Expr:
    """Text as XML means it: the predefined entities unescaped (the fast path reads raw text;
    the parser already did it), trimmed, '' as null."""
    if unescape:
        column = column.str.replace_many(list(_ENTITIES), list(_ENTITIES.values()))
    value = column.str.strip_chars()
    return pl.when(value == "").then(None).otherwise(value)


_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}


def _clean_text(frame: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    columns = list(columns)
    entities = frame.select(pl.col(c).str.contains("&", literal=True).any() for c in columns)
    return frame.with_columns(
        _clean(pl.col(name), bool(entities[name][0])).alias(name) for name in columns
    )


def _parse_lines(
    source: str, lines: Block, unreadable: dict[int, str], fast: pl.DataFrame
) -> tuple[pl.DataFrame, list[Rejection]]:
    """Fields of every readable line (``_i`` = line index): the grammar's, else the parser's;
    and the unreadable lines."""
    is_message = source == MESSAGES_SOURCE
    rejections = []
    for index, why in sorted(unreadable.items()):  # not UTF-8, or too large
        text = decode_for_storage(lines.line(index))
        rejections.append(Rejection(unreadable_key(source, text) or lines.location(index),
                                    why, text))  # fmt: skip
    bad = unreadable
    parse = slow_message if is_message else slow_status
    slow_rows: list[dict[str, object]] = []
    for index in fast.filter(~pl.col("_accepted"))["_i"].to_list():
        if index in bad:
            continue
        fields = parse(lines.line(index))
        if isinstance(fields, str):
            text = decode_for_storage(lines.line(index))
            rejections.append(Rejection(unreadable_key(source, text) or lines.location(index),
                                        fields, text))  # fmt: skip
        else:
            slow_rows.append({"_i": index, **fields})
    frame = accepted_fields(fast, source)
    if unreadable:
        frame = frame.filter(~pl.col("_i").is_in(list(unreadable)))
    if slow_rows:
        frame = pl.concat([frame, pl.DataFrame(slow_rows, schema=frame.schema)]).sort("_i")
    names = MESSAGE_TAGS if is_message else STATUS_FIELDS
    frame = _clean_text(frame, names)
    if is_message:
        frame = frame.with_columns(pl.col("receivers").list.eval(_clean(pl.element())))
    return frame, rejections


def parse_date(column: str) -> pl.Expr:
    return pl.col(column).str.strptime(pl.Date, DATE_FORMAT, strict=False)


def parse_stamp(column: str) -> pl.Expr:
    return pl.col(column).str.strptime(pl.Datetime("us"), STAMP_FORMAT, strict=False)


def split_valid(
    contract: Contract,
    frame: pl.DataFrame,
    agencies: AgencyDirectory,
    agency_codes: list[tuple[str, pl.DataFrame]],
    checks: list[tuple[pl.Expr, str]] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Contract checks, then agency checks on what passed them: (valid, rejected + _reason)."""
    valid, rejected = contract.split(frame, extra_checks=checks)
    if valid.height == 0:
        return valid, rejected
    problems = [
        agencies.problems(codes.join(valid.select("_i"), on="_i"), what)
        for what, codes in agency_codes
    ]
    why = pl.concat(problems).group_by("_i", maintain_order=True).agg(pl.col("_why").first())
    if why.height:
        flagged = valid.join(why, on="_i", how="left")
        rejected = pl.concat(
            [rejected, flagged.filter(pl.col("_why").is_not_null()).rename({"_why": "_reason"})],
            how="diagonal_relaxed",
        )
        valid = flagged.filter(pl.col("_why").is_null()).drop("_why")
    return valid, rejected


def rejections_of(lines: Block, rejected: pl.DataFrame, key: pl.Expr) -> list[Rejection]:
    out = []
    for index, record_key, reason in rejected.select(
        "_i", key.alias("_key"), "_reason"
    ).iter_rows():
        text = decode_for_storage(lines.line(index))
        out.append(Rejection(record_key or lines.location(index), reason, text))
    return out


def document_key_expr(document_id: str, sender: str, day: str, code: pl.Expr) -> pl.Expr:
    rebuilt = pl.when(
        pl.col(sender).is_not_null() & pl.col(day).is_not_null() & code.is_not_null()
    ).then(pl.format("{},{},{}", pl.col(sender), pl.col(day), code))
    return pl.coalesce(pl.col(document_id), rebuilt)


def prepare_messages(
    lines: Block,
    unreadable: dict[int, str],
    fast: pl.DataFrame,
    agencies: AgencyDirectory,
    batch: date,
    pseudonyms: ledger.Pseudonyms,
) -> Prepared:
    """Check a documents file's lines (``fast``: :func:`fast_query`'s result)."""
    frame, rejections = _parse_lines(MESSAGES_SOURCE, lines, unreadable, fast)
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
        MESSAGE_CONTRACT, frame, agencies,
        [("From OrganId", senders), ("To OrganId", receivers)], MESSAGE_CHECKS,
    )  # fmt: skip
    code = pl.when(
        pl.col("code_number").is_not_null() & pl.col("code_notation").is_not_null()
    ).then(pl.format("{}/{}", pl.col("code_number"), pl.col("code_notation")))
    rejections += rejections_of(
        lines, rejected, document_key_expr("document_id", "sender_code", "promulgation_date", code)
    )
    rows = pseudonyms.replace(valid, "signer_name", "signer_key").select(
        "_i",
        "document_id", "sender_code", "code_number", "code_notation",
        parse_date("promulgation_date").alias("promulgation_date"),
        pl.col("type_code").cast(pl.Int64, strict=False), "type_name", "subject",
        pl.col("priority").cast(pl.Int64, strict=False),
        pl.col("page_amount").cast(pl.Int64, strict=False),
        parse_date("due_date").alias("due_date"),
        parse_stamp("sent_at").alias("sent_at"),
        pl.col("receivers").list.len().cast(pl.Int64).alias("receiver_count"),
        pl.col("is_signed").cast(pl.Boolean),
        pl.col("attachment_count").cast(pl.Int64),
        "signer_key",
        pl.lit(batch, pl.Date).alias("batch_date"),
        "receivers",
    )  # fmt: skip
    return Prepared(MESSAGES_SOURCE, lines, rows, rejections)


def prepare_status(
    lines: Block,
    unreadable: dict[int, str],
    fast: pl.DataFrame,
    agencies: AgencyDirectory,
    batch: date,
    pseudonyms: ledger.Pseudonyms,
) -> Prepared:
    """Check a status file's lines (``fast``: :func:`fast_query`'s result)."""
    frame, rejections = _parse_lines(STATUS_SOURCE, lines, unreadable, fast)
    receivers = frame.select(
        "_i", pl.lit(1).alias("_k"), pl.col("receiver_code").alias("code"),
        parse_stamp("status_at").dt.date().alias("day"),
    )  # fmt: skip
    senders = frame.select(
        "_i", pl.lit(0).alias("_k"), pl.col("sender_code").alias("code"),
        parse_date("promulgation_date").alias("day"),
    )  # fmt: skip
    valid, rejected = split_valid(
        STATUS_CONTRACT,
        frame,
        agencies,
        [("ResponseFor OrganId", senders), ("From OrganId", receivers)],
    )
    document_id = document_key_expr("document_id", "sender_code", "promulgation_date",
                                     pl.col("code"))  # fmt: skip
    key_expr = pl.when(document_id.is_not_null()).then(
        pl.format(
            "{}|{}|{}", document_id, pl.col("receiver_code").fill_null(""),
            pl.col("status_code").fill_null(""),
        )
    )  # fmt: skip
    rejections += rejections_of(lines, rejected, key_expr)
    rows = pseudonyms.replace(valid, "staff", "handler_key").select(
        "_i", "document_id", "sender_code",
        parse_date("promulgation_date").alias("promulgation_date"),
        "receiver_code", "status_code", "description",
        parse_stamp("status_at").alias("status_at"), "handler_key",
        pl.lit(batch, pl.Date).alias("batch_date"),
    )  # fmt: skip
    return Prepared(STATUS_SOURCE, lines, rows, rejections)
