"""Loading a prepared day: the statuses' order against what is loaded, then each source's rows
and rejections (inside the day's transaction).

A status that comes before one of the same receiver's earlier stages of the same document
(``06`` completed timestamped before ``01`` arrived) is rejected as out of order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl
import pyarrow as pa

from core.warehouse import Warehouse
from ingestion import ledger
from ingestion.documents.contracts import STAGE, STAMP_FORMAT
from ingestion.documents.reading import PreparedDay
from ingestion.documents.tables import (
    MESSAGES_SOURCE,
    MESSAGES_TABLE,
    RECEIVERS_TABLE,
    REGISTER_SOURCE,
    REGISTER_TABLE,
    STATUS_SOURCE,
    STATUS_TABLE,
)
from ingestion.ledger import Rejection, RunCounts
from ingestion.lines import decode_for_storage
from ingestion.loader import RawTable, load_batch


def out_of_order(rows: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """Statuses timestamped before an earlier stage of the same receiver and document.

    Returns ``_i`` and ``_reason`` of the offending rows of ``rows`` (compared with each other
    and with ``history``, the statuses already loaded that could be later than them).
    """
    stage = pl.col("status_code").replace_strict(STAGE, default=None, return_dtype=pl.Int8)
    keys = ["document_id", "receiver_code"]
    mine = rows.select("_i", *keys, "status_code", "status_at").with_columns(_stage=stage)
    others = pl.concat(
        [
            rows.select(*keys, "status_code", "status_at"),
            history.select(*keys, "status_code", "status_at"),
        ]
    ).with_columns(_stage=stage)
    pairs = (
        mine.filter(pl.col("_stage").is_not_null())
        .join(others.filter(pl.col("_stage").is_not_null()), on=keys, suffix="_earlier")
        .filter(
            (pl.col("_stage_earlier") < pl.col("_stage"))
            & (pl.col("status_at_earlier") > pl.col("status_at"))
        )
        .sort("_i", "_stage_earlier", "status_at_earlier")
        .group_by("_i", maintain_order=True)
        .first()
    )
    return pairs.select(
        "_i",
        pl.format(
            "out of order: status {} at {} comes before the same receiver's earlier status {} "
            "at {}",
            pl.col("status_code"),
            pl.col("status_at").dt.strftime(STAMP_FORMAT),
            pl.col("status_code_earlier"),
            pl.col("status_at_earlier").dt.strftime(STAMP_FORMAT),
        ).alias("_reason"),
    )


def latest_status(warehouse: Warehouse) -> datetime | None:
    """The latest status time loaded so far (None when there is none)."""
    return warehouse.fetch(
        f"select max(status_at) from {STATUS_TABLE.name} where province_code = ?",
        [ledger.province_of(warehouse)],
    )[0][0]


def _status_history(
    warehouse: Warehouse, rows: pl.DataFrame, latest: datetime | None
) -> pl.DataFrame:
    """Loaded statuses of the batch's receivers and documents timestamped at or after the
    earliest status of the batch: none when the batch starts after the ``latest`` loaded
    (batches come in time order, so that is the rule and the lookup the exception)."""
    empty = pl.DataFrame(
        schema={
            "document_id": pl.String,
            "receiver_code": pl.String,
            "status_code": pl.String,
            "status_at": pl.Datetime("us"),
        }
    )
    if rows.height == 0 or latest is None or rows["status_at"].min() > latest:
        return empty
    keys = rows.select("document_id", "receiver_code").unique().to_arrow()
    with warehouse.staged(keys, STATUS_TABLE.name) as staged:
        found = warehouse.fetch(
            f"select s.document_id, s.receiver_code, s.status_code, s.status_at "
            f"from {STATUS_TABLE.name} s join {staged} k "
            "on s.document_id = k.document_id and s.receiver_code = k.receiver_code "
            "where s.province_code = ? and s.status_at >= ?",
            [ledger.province_of(warehouse), rows["status_at"].min()],
        )
    if not found:
        return empty
    return pl.DataFrame(found, schema=empty.schema, orient="row")


def _arrow(rows: pl.DataFrame, table: RawTable) -> pa.Table:
    return rows.select([f.name for f in table.schema]).to_arrow().cast(table.schema)


@dataclass(slots=True)
class LoadState:
    """What a run knows of the warehouse between days."""

    latest_status: datetime | None  # the latest status_at loaded


def load_day(
    warehouse: Warehouse, run_id: str, prepared: PreparedDay, state: LoadState
) -> dict[str, RunCounts]:
    """Load one prepared day; call inside a transaction (with the watermarks and run counts)."""
    counts: dict[str, RunCounts] = {}
    for source, part in prepared.parts.items():
        rejections = list(part.rejections)
        rows = part.rows
        if source == STATUS_SOURCE and rows.height:
            history = _status_history(warehouse, rows, state.latest_status)
            late = out_of_order(rows, history)
            if late.height:
                flagged = rows.join(late, on="_i", how="left")
                for index, document_id, receiver, status, reason in (
                    flagged.filter(pl.col("_reason").is_not_null())
                    .select("_i", "document_id", "receiver_code", "status_code", "_reason")
                    .iter_rows()
                ):
                    rejections.append(
                        Rejection(
                            f"{document_id}|{receiver}|{status}",
                            reason,
                            decode_for_storage(part.lines.line(index)),
                        )
                    )
                rows = flagged.filter(pl.col("_reason").is_null()).drop("_reason")
        table = {REGISTER_SOURCE: REGISTER_TABLE, MESSAGES_SOURCE: MESSAGES_TABLE,
                 STATUS_SOURCE: STATUS_TABLE}[source]  # fmt: skip
        counts[source] = load_batch(
            warehouse, run_id, source, table, _arrow(rows, table), rejections, part.read
        )
        if source == STATUS_SOURCE and rows.height:
            newest = rows["status_at"].max()
            if state.latest_status is None or newest > state.latest_status:
                state.latest_status = newest
        if source == MESSAGES_SOURCE and rows.height:
            receivers = (
                rows.select("document_id", "sent_at", "batch_date", "receivers")
                .with_columns(position=pl.int_ranges(1, pl.col("receivers").list.len() + 1))
                .explode("receivers", "position")
                .rename({"receivers": "receiver_code"})
            )
            load_batch(
                warehouse, run_id, source, RECEIVERS_TABLE, _arrow(receivers, RECEIVERS_TABLE),
                [], receivers.height,
            )  # fmt: skip
    return counts
