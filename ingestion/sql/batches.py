"""One batch read: landed as read, typed, checked against the contract, personal columns
pseudonymised or dropped, and the rejected rows (a rejection already recorded is left out)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa

from core.warehouse import Warehouse
from ingestion import ledger
from ingestion.contract import Contract
from ingestion.ledger import Rejection
from ingestion.privacy import redact
from ingestion.sql.conversion import jsonable, landing_array, to_raw_type
from ingestion.sql.definitions import ARROW_TYPES, SqlSource


@dataclass(slots=True)
class Batch:
    landed: pa.Table  # as read, personal data included (the landing zone only)
    rows: pa.Table  # valid, pseudonymised, as the raw table's schema
    rejections: list[Rejection]
    read: int
    last: tuple[object, ...] | None = None  # (updated, *natural key) of the last row read
    newest: object | None = None  # the latest update time read that is not in the future


@dataclass(slots=True)
class Context:
    source: SqlSource
    kinds: dict[str, str]
    zone: ZoneInfo
    key: bytes
    codes: Mapping[str, Collection[str]]
    contract: Contract
    extra_checks: list[tuple[pl.Expr, str]] = field(default_factory=list)
    # The latest acceptable update time (the source's zone, its column's type): a row updated
    # later has a wrong clock; loaded, it would move the watermark past every row to come.
    latest: object | None = None


def prepare_batch(ctx: Context, raw: list[tuple[object, ...]]) -> Batch:
    source = ctx.source
    names = [c.name for c in source.columns]
    position = {name: i for i, name in enumerate(names)}
    values = {name: [row[position[name]] for row in raw] for name in names}
    landed = pa.table({name: landing_array(values[name]) for name in names})

    # Types first: a value the raw table cannot hold rejects its row with a precise reason.
    typed: dict[str, pa.Array] = {}
    type_reason: list[str | None] = [None] * len(raw)
    for name in names:
        typed[name], problems = to_raw_type(values[name], ctx.kinds[name], ctx.zone)
        for i, problem in enumerate(problems or ()):
            if problem and type_reason[i] is None:
                type_reason[i] = f"{name}: {problem}"
    frame = pl.from_arrow(pa.table(typed | {"_i": pa.array(range(len(raw)), pa.int64())}))
    assert isinstance(frame, pl.DataFrame)
    ok_types = pl.Series([r is None for r in type_reason], dtype=pl.Boolean)
    checks = list(ctx.extra_checks)
    updated = pl.col(source.updated_column)
    newest = None
    if ctx.latest is not None:
        future = updated.is_not_null() & (updated > pl.lit(ctx.latest))
        checks.append((future, f"{source.updated_column}: in the future (after {ctx.latest}): "
                               "not loaded, the watermark kept"))  # fmt: skip
        # As the source sent it (its zone kept), as the watermark has always been stored.
        current = frame.filter(ok_types & updated.is_not_null() & ~future.fill_null(False))
        if not current.is_empty():
            last = current.sort(source.updated_column, maintain_order=True)["_i"][-1]
            newest = values[source.updated_column][last]
    valid, rejected = ctx.contract.split(frame.filter(ok_types), ctx.codes, checks)
    reasons = {i: r for i, r in enumerate(type_reason) if r is not None}
    reasons.update(zip(rejected["_i"].to_list(), rejected["_reason"].to_list(), strict=True))

    rejections = [
        Rejection(_record_key(source, raw[i], position), reasons[i], _payload(ctx, raw[i], names))
        for i in sorted(reasons)
    ]
    outputs = {}
    kept = valid["_i"].to_list()
    for c in source.columns:
        if c.personal == "drop":
            continue
        if c.personal == "hash":
            hashed = ledger.keyed_hashes(ctx.key, [values[c.name][i] for i in kept])
            outputs[c.output] = pa.array(hashed, pa.string())
        else:
            outputs[c.name] = valid[c.name].to_arrow().cast(ARROW_TYPES[ctx.kinds[c.name]])
    rows = pa.table(outputs, schema=source.raw_table().schema)
    return Batch(landed, rows, rejections, len(raw), newest=newest)


def _record_key(source: SqlSource, row: tuple[object, ...], position: Mapping[str, int]) -> str:
    parts = [row[position[k]] for k in source.natural_key]
    return "|".join("" if v is None else str(jsonable(v)) for v in parts)


def _payload(ctx: Context, row: tuple[object, ...], names: list[str]) -> str:
    """The rejected row as JSON, its personal columns pseudonymised like the raw table's."""
    record: dict[str, object] = {}
    for name, value in zip(names, row, strict=True):
        column = ctx.source.column(name)
        if column.personal == "drop":
            continue
        if column.personal == "hash":
            record[column.output] = ledger.keyed_hash(ctx.key, value)  # type: ignore[index]
        else:
            record[name] = jsonable(value)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def new_rejections(
    warehouse: Warehouse, source_id: str, rejections: list[Rejection]
) -> list[Rejection]:
    """Drop rejections already recorded (a record read again): they count as duplicates."""
    if not rejections:
        return []
    keys = sorted({r.record_key or "" for r in rejections})
    seen: set[tuple[str, str]] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        placeholders = ", ".join("?" for _ in chunk)
        seen.update(
            (key or "", payload)
            for key, payload in warehouse.fetch(
                "select record_key, payload from ops.rejected_records where province_code = ? "
                f"and source = ? and coalesce(record_key, '') in ({placeholders})",
                [ledger.province_of(warehouse), source_id, *chunk],
            )
        )
    fresh = []
    for rejection in rejections:
        identity = (rejection.record_key or "", redact(rejection.payload))  # as stored
        if identity not in seen:
            seen.add(identity)
            fresh.append(rejection)
    return fresh
