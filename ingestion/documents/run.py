"""A run: the days after each source's watermark, read and checked ahead in worker threads,
loaded in date order, one transaction per day."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pyarrow as pa

from core.settings import Settings
from core.warehouse import Warehouse, one_thread_per_statement
from ingestion import landing, ledger
from ingestion.documents.agencies import AgencyDirectory, agencies_path
from ingestion.documents.loading import LoadState, latest_status, load_day
from ingestion.documents.packages import batch_file, expected_files
from ingestion.documents.reading import Day, PreparedDay, batch_days, prepare_day
from ingestion.documents.tables import (
    MESSAGES_SOURCE,
    REGISTER_SOURCE,
    SOURCES,
    STATUS_SOURCE,
    ensure_tables,
)
from ingestion.ledger import DayWindow, IngestResult, RunCounts

READERS = 2  # threads reading and checking the next days while one is loaded (CPU-bound)


def ingest_documents(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str | None = None,
    *,
    agencies: Path | None = None,
    on_day: Callable[[date, dict[str, RunCounts]], None] | None = None,
    window: DayWindow | None = None,
) -> list[IngestResult]:
    """Load the daily batches after each source's watermark; one result per source.

    With a ``window`` (an orchestrator's data interval) only the batches of its days are read,
    so a backfill day by day loads what one run over the same days loads.
    """
    with one_thread_per_statement(warehouse):  # days are read and checked beside the loads
        return _ingest_days(
            settings, warehouse, run_id or ledger.new_run_id(), agencies, on_day, window
        )


def _ingest_days(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str,
    agencies: Path | None,
    on_day: Callable[[date, dict[str, RunCounts]], None] | None,
    window: DayWindow | None,
) -> list[IngestResult]:
    started = time.monotonic()
    root = settings.documents_export_dir
    ensure_tables(warehouse)
    watermarks = {s: ledger.read_watermark(warehouse, s) for s in SOURCES}
    results = {s: IngestResult(s, run_id, "running", watermark_from=watermarks[s]) for s in SOURCES}
    for source in SOURCES:
        ledger.start_run(warehouse, run_id, source, watermarks[source])
    executor = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="documents-reader")
    pending: list[Future[PreparedDay]] = []
    try:
        directory = AgencyDirectory.read(agencies or agencies_path(settings))
        state = LoadState(latest_status(warehouse))
        pseudonyms = ledger.Pseudonyms(settings.pii_key())
        limits = {
            REGISTER_SOURCE: settings.max_record_bytes,
            MESSAGES_SOURCE: settings.max_message_bytes,  # attachments included
            STATUS_SOURCE: settings.max_record_bytes,
        }
        loaded = {s: ledger.loaded_batches(warehouse, s) for s in SOURCES}
        fingerprints: dict[tuple[str, str], str] = {}

        def pending(source: str, stamp: str, path: Path) -> bool:
            """Whether the day is still to read for ``source``: not loaded yet (however late it
            arrived), or sent again changed."""
            if not loaded[source]:  # nothing recorded yet (a ledger from before batches were)
                return watermarks[source] is None or watermarks[source] < stamp
            file = batch_file(path, source)
            if file is None:
                return stamp not in loaded[source]
            fingerprints[stamp, source] = ledger.files_fingerprint([file])
            return loaded[source].get(stamp) != fingerprints[stamp, source]

        days, message = [], None
        for day, path in batch_days(root):
            if window is not None and day not in window:
                continue
            stamp = f"{day:%Y-%m-%d}"
            sources = tuple(s for s in SOURCES if pending(s, stamp, path))
            if not sources:
                continue
            missing = [expected_files(s) for s in sources if batch_file(path, s) is None]
            if missing:  # the system is still writing this batch: stop before it
                message = f"stopped before {path.name}: no {'; no '.join(missing)} yet"
                break
            days.append(Day(day, path, sources))
        ahead = READERS + 1  # days read and checked ahead of the one being loaded

        def prepare(position: int) -> Future[PreparedDay]:
            def land(source: str, table: pa.Table) -> object:
                return landing.land(settings, source, run_id, position, table)

            return executor.submit(
                prepare_day, days[position], directory, pseudonyms, root, land, limits
            )

        pending = [prepare(position) for position in range(min(ahead, len(days)))]
        for position, day in enumerate(days):
            prepared = pending.pop(0).result()
            if position + ahead < len(days):
                pending.append(prepare(position + ahead))
            stamp = f"{day.day:%Y-%m-%d}"
            with warehouse.transaction():
                counts = load_day(warehouse, run_id, prepared, state)
                for source, count in counts.items():
                    ledger.advance_watermark(warehouse, source, stamp)
                    fingerprint = fingerprints.get((stamp, source)) or ledger.files_fingerprint(
                        [f for f in [batch_file(day.directory, source)] if f is not None]
                    )
                    ledger.record_batch(warehouse, source, stamp, fingerprint, run_id)
                    ledger.add_to_run(warehouse, run_id, source, count, stamp)
            for source, count in counts.items():
                results[source].counts.add(count)
                results[source].watermark_to = stamp
            if on_day:
                on_day(day.day, counts)
    except BaseException as error:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
        for source in SOURCES:
            ledger.finish_run(warehouse, run_id, source, "failed", str(error)[:1000])
            results[source].status = "failed"
        raise
    executor.shutdown(wait=True)
    seconds = time.monotonic() - started
    for source in SOURCES:
        ledger.finish_run(warehouse, run_id, source, "success", message)
        results[source].status = "success"
        results[source].watermark_to = results[source].watermark_to or watermarks[source]
        results[source].seconds = seconds
    return [results[s] for s in SOURCES]
