"""The landing zone: what was read, as it was read, append-only.

Each batch read from a source is written as Parquet under
``$GOVDATA_HOME/landing/source=<source>/load_date=<YYYY-MM-DD>/``, hive-style, so one day of
one source can be inspected or reloaded alone. Landing files keep the original payloads,
personal data included, which is why they alone are pruned after
``GOVDATA_LANDING_RETENTION_DAYS``; the warehouse keeps none of it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.settings import Settings
from ingestion.ledger import utc_now


def partition(settings: Settings, source: str, day: date | None = None) -> Path:
    day = day or utc_now().date()
    return settings.landing_dir / f"source={source}" / f"load_date={day:%Y-%m-%d}"


def land(settings: Settings, source: str, run_id: str, part: int, table: pa.Table) -> Path:
    """Write one batch; returns its path. Parts are numbered within a run."""
    directory = partition(settings, source)
    if not directory.is_dir():
        directory.mkdir(parents=True, exist_ok=True)
        # Personal data: readable by the platform's account alone, at every level.
        for level in (settings.landing_dir, directory.parent, directory):
            level.chmod(0o700)
    path = directory / f"run_id={run_id}-part={part:05d}.parquet"
    staging = path.with_suffix(".parquet.tmp")
    # Payloads are unique: a dictionary for them would be built only to be thrown away.
    dictionary = [f.name for f in table.schema if pa.types.is_dictionary(f.type)]
    pq.write_table(table, staging, compression="lz4", use_dictionary=dictionary)
    staging.chmod(0o600)
    staging.replace(path)  # a reader never sees half a file
    return path


def lines_table(
    lines: list[bytes] | pa.Array, origin: str, numbers: Sequence[int] | np.ndarray | None = None
) -> pa.Table:
    """Raw lines of a text export with where they came from (line numbers, else 1, 2, ...)."""
    payload = lines if isinstance(lines, pa.Array) else pa.array(lines, pa.binary())
    return pa.table(
        {
            "origin": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(len(payload), np.int32)), pa.array([origin])
            ),
            "line_number": pa.array(
                np.arange(1, len(payload) + 1) if numbers is None else numbers, pa.int64()
            ),
            "payload": payload,
        }
    )


def discard_uncommitted(settings: Settings, runs: Iterable[tuple[str, str, int]]) -> list[Path]:
    """Delete what killed or failed runs landed and never committed, and half-written parts.

    ``runs`` are (run id, source, parts committed) from ops.ingest_runs: a run lands its
    parts in order and commits them in that order, so the parts past the committed count were
    read again, and landed again, by the run after it. Call with the writer lock held (no run
    is landing). Returns what was deleted."""
    removed = sorted(settings.landing_dir.glob("source=*/load_date=*/*.parquet.tmp"))
    for run_id, source, committed in runs:
        parts = sorted(
            settings.landing_dir.glob(
                f"source={source}/load_date=*/run_id={run_id}-part=*.parquet"
            ),
            key=lambda path: path.name,
        )
        removed += parts[committed:]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def prune(settings: Settings, today: date | None = None) -> list[Path]:
    """Delete load-date partitions older than the retention; returns what was deleted."""
    if settings.landing_retention_days is None:
        return []
    oldest = (today or utc_now().date()) - timedelta(days=settings.landing_retention_days)
    removed = []
    for directory in sorted(settings.landing_dir.glob("source=*/load_date=*")):
        day = date.fromisoformat(directory.name.removeprefix("load_date="))
        if day < oldest:
            shutil.rmtree(directory)
            removed.append(directory)
    return removed
