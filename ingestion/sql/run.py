"""A run of a SQL source: from its watermark, the rows a keyset cannot reach first, then batch
after batch, each committed with its rejections, counts and watermark."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import Warehouse
from ingestion import ledger
from ingestion.landing import land
from ingestion.ledger import IngestResult, RunCounts
from ingestion.loader import PROVINCE, RawTable, load_batch
from ingestion.sql.batches import Batch, Context, new_rejections, prepare_batch
from ingestion.sql.definitions import SqlSource
from ingestion.sql.reading import Reader, engine_for


def _watermark_text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def _watermark_value(text: str | None, kind: str) -> object:
    if text is None:
        return None
    if kind == "timestamp":
        return datetime.fromisoformat(text)
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "integer":
        return int(text)
    if kind == "float":
        return float(text)
    return text


def _latest_update(kind: str, zone: str, tolerance: timedelta) -> object | None:
    """The latest acceptable update time, as the update column holds it (local time of the
    source's zone, naive); none for a column that is not a time."""
    latest = datetime.now(ZoneInfo(zone)).replace(tzinfo=None, microsecond=0) + tolerance
    return {"timestamp": latest, "date": latest.date()}.get(kind)


def _later(value: object, than: object) -> bool:
    if than is None:
        return True
    try:
        return value > than  # type: ignore[operator]
    except TypeError:  # naive against aware: compare as text, as stored
        return _watermark_text(value) > _watermark_text(than)


def _check_raw_columns(warehouse: Warehouse, table: RawTable) -> None:
    schema, _, name = table.name.partition(".")
    existing = [
        row[0]
        for row in warehouse.fetch(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        )
        if row[0] not in ("_run_id", "_loaded_at")
    ]
    wanted = [PROVINCE, *table.schema.names]
    if existing and existing != wanted:
        raise SourceError(
            f"{table.name} has the columns {existing} but the source now declares {wanted}: "
            "migrate the raw table (or give the source a new name) before loading"
        )


def ingest_sql(
    settings: Settings,
    warehouse: Warehouse,
    source: SqlSource,
    run_id: str | None = None,
    batch_size: int | None = None,
    *,
    codes: Mapping[str, Collection[str]] | None = None,
    attempts: int = 5,
    backoff_seconds: float = 0.5,
    on_batch: Callable[[RunCounts], None] | None = None,
) -> IngestResult:
    """Bring the rows of ``source`` updated since its watermark into ``raw.sql__<name>``.

    ``codes`` holds the code lists that columns declared with ``codes:`` must belong to;
    ``on_batch`` is called after each committed batch with its counts.
    """
    run_id = run_id or ledger.new_run_id()
    started = time.monotonic()
    source_id = source.source_id
    ledger.ensure_ops_schema(warehouse)
    stored = ledger.read_watermark(warehouse, source_id)
    result = IngestResult(source_id, run_id, "running", watermark_from=stored)
    ledger.start_run(warehouse, run_id, source_id, stored)
    engine: sa.Engine | None = None
    try:
        engine = engine_for(source, source.url())
        reader = Reader(source, engine, batch_size or source.batch_size, attempts, backoff_seconds)
        kinds = {c.name: c.kind for c in source.columns}
        if any(k is None for k in kinds.values()) and source.table is not None:
            reflected = reader.reflect()
            missing = [n for n, k in kinds.items() if k is None and n not in reflected]
            if missing:
                raise SourceError(f"{source_id}: {source.table} has no column {missing}")
            kinds = {n: k or reflected[n] for n, k in kinds.items()}
        resolved = replace(
            source,
            columns=tuple(replace(c, kind=kinds[c.name] or "string") for c in source.columns),
        )
        table = resolved.raw_table()
        ctx = Context(
            resolved,
            {n: k or "string" for n, k in kinds.items()},
            ZoneInfo(source.timezone),
            settings.pii_key(),
            codes or {},
            resolved.contract,
            resolved.extra_checks(),
            _latest_update(kinds[source.updated_column] or "string", source.timezone,
                           timedelta(hours=settings.future_tolerance_hours)),
        )  # fmt: skip
        _check_raw_columns(warehouse, table)
        table.ensure(warehouse)

        updated_kind = ctx.kinds[source.updated_column]
        watermark = _watermark_value(stored, updated_kind)
        since = watermark
        if since is not None and source.lookback_seconds:
            since = since - timedelta(seconds=source.lookback_seconds)  # type: ignore[operator]
        part = 0

        def commit(batch: Batch, what: str) -> None:
            nonlocal part, watermark
            land(settings, source_id, run_id, part, batch.landed)
            part += 1
            try:
                with warehouse.transaction():
                    fresh = new_rejections(warehouse, source_id, batch.rejections)
                    counts = load_batch(
                        warehouse, run_id, source_id, table, batch.rows, fresh, batch.read
                    )
                    advanced = None
                    newest = batch.last[0] if ctx.latest is None else batch.newest
                    if batch.last is not None and newest is not None and _later(newest, watermark):
                        advanced = newest
                        ledger.write_watermark(warehouse, source_id, _watermark_text(advanced))
                    ledger.add_to_run(
                        warehouse, run_id, source_id, counts,
                        _watermark_text(advanced) if advanced is not None else None,
                    )  # fmt: skip
            except Exception as error:
                raise SourceError(f"{source_id}: loading {what} failed: {error}") from error
            if advanced is not None:
                watermark = advanced
            result.counts.add(counts)
            if on_batch:
                on_batch(counts)

        for rows in reader.anomalies(since):
            commit(prepare_batch(ctx, rows), "rows with a null key or update column")

        after: tuple[object, ...] | None = None
        while True:
            rows = reader.page(since, after)
            if not rows:
                break
            first = reader.position(_order_values(source, rows[0]))
            batch = prepare_batch(ctx, rows)
            batch.last = _order_values(source, rows[-1])
            commit(batch, f"the batch from {first} to {reader.position(batch.last)}")
            after = batch.last
            if len(rows) < reader.batch_size:
                break
    except BaseException as error:
        result.status = "failed"
        message = str(error) if isinstance(error, SourceError) else f"{source_id}: {error!r}"
        with contextlib.suppress(Exception):  # a dead warehouse: the first error matters more
            ledger.finish_run(warehouse, run_id, source_id, "failed", message[:1000])
        raise
    finally:
        if engine is not None:
            engine.dispose()
    ledger.finish_run(warehouse, run_id, source_id, "success")
    result.status = "success"
    result.watermark_to = _watermark_text(watermark) if watermark is not None else None
    result.seconds = time.monotonic() - started
    return result


def _order_values(source: SqlSource, row: tuple[object, ...]) -> tuple[object, ...]:
    names = [c.name for c in source.columns]
    return tuple(row[names.index(n)] for n in (source.updated_column, *source.natural_key))
