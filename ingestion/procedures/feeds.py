"""The two feeds (dossier versions and progress events), read from the sync API page by page
or from export files block by block, into the same raw tables with the same rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import timedelta
from pathlib import Path

import orjson
import pyarrow as pa

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import Warehouse
from ingestion import landing, ledger
from ingestion.contract import latest_acceptable
from ingestion.ledger import DayWindow, IngestResult, RunCounts
from ingestion.lines import (
    FileProgress,
)
from ingestion.procedures.api import ProceduresApi
from ingestion.procedures.checks import Batch, Check, check_dossiers, check_events, receptions
from ingestion.procedures.contracts import (
    DOSSIERS_TABLE,
    EVENTS_EXPORT_SOURCE,
    EVENTS_SOURCE,
    EVENTS_TABLE,
    EXPORT_SOURCE,
    SOURCE,
    CodeLists,
)
from ingestion.procedures.exports import ExportBlock, export_blocks, export_files
from ingestion.procedures.stages import Feed, PerThread, check_engines, load_in_order, run_source


def _ingest_pages(
    settings: Settings,
    warehouse: Warehouse,
    feed: Feed,
    path: str,
    api: ProceduresApi,
    run_id: str,
    on_page: Callable[[RunCounts], None] | None,
) -> IngestResult:
    """Page through one feed of the API from its watermark, one transaction per page."""
    ledger.ensure_ops_schema(warehouse)
    feed.table.ensure(warehouse)
    watermark = ledger.read_watermark(warehouse, feed.source)

    def read(result: IngestResult) -> str | None:
        mark = watermark
        pages = enumerate(
            [orjson.dumps(record) for record in page.records]
            for page in api.pages(mark, settings.page_size, path)
        )

        def land(page: tuple[int, list[bytes]]) -> object:
            part, encoded = page
            table = landing.lines_table(encoded, f"GET {path}")
            return landing.land(settings, feed.source, run_id, part, table)

        def after(_: object, batch: Batch) -> str | None:
            nonlocal mark
            newest = batch.stamps.max() if len(batch.stamps) else None
            if newest is not None and (mark is None or str(newest) > mark):
                mark = str(newest)
            return mark

        load_in_order(
            warehouse, run_id, feed, result, pages,
            lambda page: (pa.array(page[1], pa.large_binary()), None), land, after, on_page,
        )  # fmt: skip
        return mark

    return run_source(warehouse, feed.source, run_id, watermark, read)


def _ingest_exports(
    settings: Settings,
    warehouse: Warehouse,
    feed: Feed,
    files: list[Path],
    run_id: str,
    on_page: Callable[[RunCounts], None] | None,
) -> IngestResult:
    """Read a feed's export files from where the last run stopped, one transaction per block."""
    ledger.ensure_ops_schema(warehouse)
    feed.table.ensure(warehouse)
    watermark = ledger.read_watermark(warehouse, feed.source)

    def read(result: IngestResult) -> str | None:
        try:
            progress = FileProgress.parse(watermark)
        except ValueError as error:
            raise SourceError(f"{feed.source}: {error}") from error

        def land(item: ExportBlock) -> object:
            block = item.block
            table = landing.lines_table(block.lines, block.origin, block.numbers)
            return landing.land(settings, feed.source, run_id, item.part, table)

        def after(item: ExportBlock, _: Batch) -> str:
            block = item.block
            progress.advance(item.name, item.head, block.end, block.next_line)
            return progress.dumps()

        load_in_order(
            warehouse, run_id, feed, result, export_blocks(files, progress),
            lambda item: (item.block.lines, item.block.location), land, after, on_page,
        )  # fmt: skip
        return progress.dumps() if progress.files else None

    return run_source(warehouse, feed.source, run_id, watermark, read)


def _latest(settings: Settings) -> str:
    return latest_acceptable(timedelta(hours=settings.future_tolerance_hours))


def _dossier_feed(
    source: str, code_lists: Callable[[], CodeLists], key: bytes, latest: str, max_bytes: int
) -> Feed:
    @contextmanager
    def checking() -> Iterator[Check]:
        codes = code_lists()
        # An applicant seldom recurs beyond a dossier's versions in one block: remembering
        # a year of them would cost more than hashing them again.
        pseudonyms = ledger.Pseudonyms(key, capacity=0)
        with closing(check_engines()) as engines:
            yield lambda lines, located: check_dossiers(
                engines.get(), lines, codes, pseudonyms, located, max_bytes, latest
            )

    return Feed(source, DOSSIERS_TABLE, checking)


def _event_feed(source: str, warehouse: Warehouse, key: bytes, latest: str, max_bytes: int) -> Feed:
    @contextmanager
    def checking() -> Iterator[Check]:
        pseudonyms = ledger.Pseudonyms(key)
        # The checks run beside the loads: they read the receptions on connections of their own.
        with (
            closing(check_engines()) as engines,
            closing(PerThread(warehouse.sibling, lambda reader: reader.close())) as readers,
        ):
            yield lambda lines, located: check_events(
                engines.get(), lines, lambda codes: receptions(readers.get(), codes), pseudonyms,
                located, max_bytes, latest,
            )  # fmt: skip

    return Feed(source, EVENTS_TABLE, checking)


def _api(settings: Settings, api: ProceduresApi | None) -> ProceduresApi:
    return api or ProceduresApi(settings.procedures_api_url, settings.http_timeout_seconds)


def ingest_dossiers(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str | None = None,
    api: ProceduresApi | None = None,
    on_page: Callable[[RunCounts], None] | None = None,
) -> IngestResult:
    """Bring the dossier versions pushed since the last watermark into the raw layer."""
    api = _api(settings, api)
    try:
        feed = _dossier_feed(
            SOURCE, api.code_lists, settings.pii_key(), _latest(settings),
            settings.max_record_bytes,
        )  # fmt: skip
        return _ingest_pages(settings, warehouse, feed, "/api/dossiers", api,
                             run_id or ledger.new_run_id(), on_page)  # fmt: skip
    finally:
        api.close()


def ingest_events(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str | None = None,
    api: ProceduresApi | None = None,
    on_page: Callable[[RunCounts], None] | None = None,
) -> IngestResult:
    """Bring the progress events since the last watermark (ingest dossiers first)."""
    api = _api(settings, api)
    try:
        feed = _event_feed(
            EVENTS_SOURCE, warehouse, settings.pii_key(), _latest(settings),
            settings.max_record_bytes,
        )  # fmt: skip
        return _ingest_pages(settings, warehouse, feed, "/api/events", api,
                             run_id or ledger.new_run_id(), on_page)  # fmt: skip
    finally:
        api.close()


def ingest_dossier_exports(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str | None = None,
    on_page: Callable[[RunCounts], None] | None = None,
    window: DayWindow | None = None,
) -> IngestResult:
    """Bring the dossier versions of the export files into the raw layer (the dated files of
    the ``window`` only, when given, see :func:`~ingestion.procedures.exports.export_files`)."""
    feed = _dossier_feed(
        EXPORT_SOURCE, lambda: CodeLists.from_warehouse(warehouse), settings.pii_key(),
        _latest(settings), settings.max_record_bytes,
    )  # fmt: skip
    files = export_files(settings.procedures_exports_dir, "dossiers", window)
    return _ingest_exports(settings, warehouse, feed, files, run_id or ledger.new_run_id(),
                           on_page)  # fmt: skip


def ingest_event_exports(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str | None = None,
    on_page: Callable[[RunCounts], None] | None = None,
    window: DayWindow | None = None,
) -> IngestResult:
    """Bring the progress events of the export files (ingest dossiers first)."""
    feed = _event_feed(
        EVENTS_EXPORT_SOURCE, warehouse, settings.pii_key(), _latest(settings),
        settings.max_record_bytes,
    )  # fmt: skip
    files = export_files(settings.procedures_exports_dir, "events", window)
    return _ingest_exports(settings, warehouse, feed, files, run_id or ledger.new_run_id(),
                           on_page)  # fmt: skip
