"""A run: the catalogue's snapshot, then the period folders from the watermark on, each landed,
validated and committed in one transaction."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import Warehouse
from ingestion import landing, ledger
from ingestion.ledger import DayWindow, IngestResult, RunCounts
from ingestion.loader import load_batch
from ingestion.privacy import redact
from ingestion.reports.catalogue import ingest_catalogue
from ingestion.reports.contracts import FORMATS, PERIOD_FOLDER, SOURCE, SUBMISSIONS
from ingestion.reports.reading import Batch, read_csv_export, read_excel_export
from ingestion.reports.reference import Reference, agencies_path, read_agencies
from ingestion.reports.validation import rejections_of, to_raw, validate

log = logging.getLogger(__package__)  # the connector's logger: ingestion.reports


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
            "select reason, payload from ops.rejected_records "
            "where province_code = ? and source = ? and payload like ?",
            [ledger.province_of(warehouse), SOURCE, prefix + "%"],
        )
    )


def _load_period(
    warehouse: Warehouse,
    run_id: str,
    period: str,
    batches: list[Batch],
    reference: Reference,
    fingerprint: str,
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
            # Stored without personal values: compared in that form.
            new = [r for r in rejections if (r.reason, redact(r.payload)) not in seen]
            counts.add(load_batch(warehouse, run_id, SOURCE, SUBMISSIONS, rows, new, batch.read))
        ledger.advance_watermark(warehouse, SOURCE, period)
        ledger.record_batch(warehouse, SOURCE, period, fingerprint, run_id)
        landed = sum(batch.landed is not None for batch in batches)
        ledger.add_to_run(warehouse, run_id, SOURCE, counts, period, parts=landed)
    return counts


def ingest_reports(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str | None = None,
    fmt: str | None = None,
    window: DayWindow | None = None,
) -> list[IngestResult]:
    """Bring the reporting system's exports into the raw layer, from the watermark on.

    With a ``window`` (an orchestrator's data interval) only the periods of the months it
    touches are read.

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
        loaded = ledger.loaded_batches(warehouse, SOURCE)

        def pending(period: str, folder: Path) -> bool:
            if window is not None and not window.months()[0] <= period <= window.months()[1]:
                return False
            if not loaded:  # nothing recorded yet (a ledger from before batches were)
                return watermark is None or period >= watermark
            # A period arriving late, a period sent again changed, and the latest period
            # (resubmissions arrive in it) are read; the rest were loaded as they are.
            return loaded.get(period) != ledger.files_fingerprint(
                folder.iterdir()
            ) or period == max(loaded)

        todo = [(p, f) for p, f in period_folders(export_dir) if pending(p, f)]
        for period, folder in todo:
            batches = _read_period(folder, export_dir.parent, fmt)
            for batch in batches:
                if batch.landed is not None:
                    landing.land(settings, SOURCE, run_id, part, batch.landed)
                    part += 1
            fingerprint = ledger.files_fingerprint(folder.iterdir())
            counts = _load_period(warehouse, run_id, period, batches, reference, fingerprint)
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
