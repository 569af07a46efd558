"""Reading and landing, checking and loading side by side on consecutive pages or blocks.

While one part is loaded and committed, the next ones are checked (``CHECKERS`` at a time, each
thread with its own one-thread DuckDB engine) and the one after is read and landed. The commits
stay in order, each with its rejections, counts and watermark, so a run killed midway resumes
where it stopped and loses nothing. Also the accounting of one run in ``ops.ingest_runs``
(:func:`run_source`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from typing import Generic, TypeVar

import duckdb
import pyarrow as pa

from core.warehouse import Warehouse, one_thread_per_statement
from ingestion import ledger
from ingestion.ledger import IngestResult, RunCounts
from ingestion.loader import RawTable, load_batch
from ingestion.procedures.checks import Batch, Check

Part = TypeVar("Part")
Resource = TypeVar("Resource")


def _commit(
    warehouse: Warehouse,
    run_id: str,
    source: str,
    table: RawTable,
    batch: Batch,
    watermark: str | None,
) -> RunCounts:
    """Load a checked batch with its rejections, counts and watermark in one transaction."""
    with warehouse.transaction():
        counts = load_batch(warehouse, run_id, source, table, batch.rows, batch.rejections,
                            batch.read, unique=True)  # fmt: skip
        if watermark is not None:
            ledger.write_watermark(warehouse, source, watermark)
        ledger.add_to_run(warehouse, run_id, source, counts, watermark)
    return counts


@dataclass(frozen=True, slots=True)
class Feed:
    """One feed of the system: where it is read and how its lines are checked."""

    source: str
    table: RawTable
    # Opens what the check needs (the code lists, its own DuckDB engine) and gives the check;
    # entered inside the run, so a source that is down fails the run with its row in
    # ops.ingest_runs.
    checking: Callable[[], AbstractContextManager[Check]]


# The check's own engine: one thread, as the warehouse's (see one_thread_per_statement).
ONE_THREAD = {"threads": 1}
# Parts checked at once. With the thread reading ahead and the one loading, two checks keep
# two cores busy whichever stage is the slowest (the parse, for dossiers).
CHECKERS = 2


class PerThread(Generic[Resource]):
    """A resource for each thread that uses one (a DuckDB connection serves one thread at a
    time), all closed together."""

    def __init__(self, open_: Callable[[], Resource], close: Callable[[Resource], object]) -> None:
        self._open, self._close = open_, close
        self._mine = threading.local()
        self._opened: list[Resource] = []
        self._lock = threading.Lock()

    def get(self) -> Resource:
        resource: Resource | None = getattr(self._mine, "resource", None)
        if resource is None:
            resource = self._mine.resource = self._open()
            with self._lock:
                self._opened.append(resource)
        return resource

    def close(self) -> None:
        for resource in self._opened:
            self._close(resource)


def check_engines() -> PerThread[duckdb.DuckDBPyConnection]:
    return PerThread(lambda: duckdb.connect(config=ONE_THREAD), lambda engine: engine.close())


def _checked_ahead(
    parts: Iterable[Part], check: Callable[[Part], Batch], land: Callable[[Part], object]
) -> Iterator[tuple[Part, Batch]]:
    """Each part, landed, with its checked batch, in order. The stages run side by side:
    while the caller loads and commits one part, the next ones are checked (parsed in DuckDB,
    validated in polars), ``CHECKERS`` at a time, and the one after is read and landed."""
    with (
        ThreadPoolExecutor(1, thread_name_prefix="reading") as reading,
        ThreadPoolExecutor(CHECKERS, thread_name_prefix="checks") as checks,
    ):
        remaining = iter(parts)

        def read_and_land() -> tuple[Part] | None:
            for part in remaining:
                land(part)
                return (part,)
            return None

        upcoming = reading.submit(read_and_land)
        ahead: deque[tuple[Part, Future[Batch]]] = deque()
        while (read := upcoming.result()) is not None:
            upcoming = reading.submit(read_and_land)
            ahead.append((read[0], checks.submit(check, read[0])))
            if len(ahead) > CHECKERS:
                part, checked = ahead.popleft()
                yield part, checked.result()
        for part, checked in ahead:
            yield part, checked.result()


def run_source(
    warehouse: Warehouse, source: str, run_id: str, watermark: str | None,
    read: Callable[[IngestResult], str | None],
) -> IngestResult:  # fmt: skip
    """Account for one run of a source: start it, read, and finish it as success or failure."""
    started = time.monotonic()
    result = IngestResult(source, run_id, "running", watermark_from=watermark)
    ledger.start_run(warehouse, run_id, source, watermark)
    try:
        result.watermark_to = read(result)
    except Exception as error:
        ledger.finish_run(warehouse, run_id, source, "failed", str(error)[:1000])
        result.status = "failed"
        raise
    ledger.finish_run(warehouse, run_id, source, "success")
    result.status = "success"
    result.seconds = time.monotonic() - started
    return result


def load_in_order(
    warehouse: Warehouse,
    run_id: str,
    feed: Feed,
    result: IngestResult,
    parts: Iterable[Part],
    lines_of: Callable[[Part], tuple[pa.Array, Callable[[int], str] | None]],
    land: Callable[[Part], object],
    watermark_after: Callable[[Part, Batch], str | None],
    on_page: Callable[[RunCounts], None] | None,
) -> None:
    """Check the parts ahead (see :func:`_checked_ahead`) and commit each in order with the
    watermark it leaves the source at."""
    with one_thread_per_statement(warehouse), feed.checking() as check:
        checked = _checked_ahead(parts, lambda part: check(*lines_of(part)), land)
        with closing(checked):  # the parts ahead are done with before the check closes
            for part, batch in checked:
                watermark = watermark_after(part, batch)
                counts = _commit(warehouse, run_id, feed.source, feed.table, batch, watermark)
                result.counts.add(counts)
                if on_page:
                    on_page(counts)
