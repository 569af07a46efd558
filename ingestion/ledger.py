"""The ``ops`` schema: where every run, watermark and rejected record is accounted for.

A provincial data team must be able to say where every record went, so each run writes one
row per source with read = loaded + rejected + duplicate, and each rejected record is kept
with its reason and its payload, personal values removed (:mod:`ingestion.privacy`; the
original is in the landing zone).
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from core.warehouse import Warehouse
from ingestion.privacy import redact

OPS_DDL = (
    "create schema if not exists ops",
    "create schema if not exists raw",
    """create table if not exists ops.ingest_runs (
        run_id varchar not null,
        source varchar not null,
        province_code varchar not null,
        started_at timestamp not null,
        finished_at timestamp,
        status varchar not null,
        rows_read bigint not null default 0,
        rows_loaded bigint not null default 0,
        rows_rejected bigint not null default 0,
        rows_duplicate bigint not null default 0,
        watermark_from varchar,
        watermark_to varchar,
        message varchar,
        parts_committed bigint default 0,
        primary key (run_id, source)
    )""",
    """create table if not exists ops.source_state (
        province_code varchar not null,
        source varchar not null,
        watermark varchar not null,
        updated_at timestamp not null,
        primary key (province_code, source)
    )""",
    # Dated batches (a documents day, a reports period) already loaded, each with the
    # fingerprint of its files: a batch that arrives late, or is sent again changed, is read by
    # the next run, whatever the watermark (the highest batch) says.
    """create table if not exists ops.loaded_batches (
        province_code varchar not null,
        source varchar not null,
        batch varchar not null,
        fingerprint varchar not null,
        run_id varchar not null,
        loaded_at timestamp not null,
        primary key (province_code, source, batch)
    )""",
    """create table if not exists ops.rejected_records (
        run_id varchar not null,
        source varchar not null,
        province_code varchar not null,
        record_key varchar,
        reason varchar not null,
        payload varchar not null,
        rejected_at timestamp not null
    )""",
)


#: The ledger's tables that identify a province's runs, watermarks, batches and records.
PROVINCE_KEYED = ("ingest_runs", "source_state", "loaded_batches", "rejected_records")


def ensure_ops_schema(warehouse: Warehouse) -> None:
    unkeyed = [
        name
        for (name,) in warehouse.fetch(
            "select table_name from information_schema.tables where table_schema = 'ops'"
        )
        if name in PROVINCE_KEYED
        and not warehouse.fetch(
            "select 1 from information_schema.columns where table_schema = 'ops' "
            "and table_name = ? and column_name = 'province_code'",
            [name],
        )
    ]
    if unkeyed:
        raise RuntimeError(
            f"ops.{', ops.'.join(sorted(unkeyed))} were created by an earlier version, before "
            "the ledger was keyed by province (province_code): start from an empty warehouse "
            "(`make clean` for the demo) and ingest again"
        )
    for statement in OPS_DDL:
        warehouse.execute(statement)
    # Warehouses created before the count of committed batches (it tells landed parts a
    # killed run never committed from the ones it did).
    warehouse.execute(
        "alter table ops.ingest_runs add column if not exists parts_committed bigint default 0"
    )


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(slots=True)
class RunCounts:
    read: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicate: int = 0

    def add(self, other: RunCounts) -> None:
        self.read += other.read
        self.loaded += other.loaded
        self.rejected += other.rejected
        self.duplicate += other.duplicate

    @property
    def reconciles(self) -> bool:
        return self.read == self.loaded + self.rejected + self.duplicate


@dataclass(frozen=True, slots=True)
class DayWindow:
    """The days a run reads from a source of dated files, first and last included: an
    orchestrator's data interval. Without one a run reads everything after its watermark."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"the window ends ({self.last}) before it starts ({self.first})")

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def months(self) -> tuple[str, str]:
        """First and last month (YYYY-MM) the window touches."""
        return f"{self.first:%Y-%m}", f"{self.last:%Y-%m}"

    def __str__(self) -> str:
        return f"{self.first} to {self.last}"


@dataclass(slots=True)
class Rejection:
    record_key: str | None
    reason: str
    payload: str


@dataclass(slots=True)
class IngestResult:
    source: str
    run_id: str
    status: str
    counts: RunCounts = field(default_factory=RunCounts)
    watermark_from: str | None = None
    watermark_to: str | None = None
    seconds: float = 0.0
    message: str | None = None  # why a run failed, in one line
    province_code: str | None = None  # whose source system (set by the pipeline)


def province_of(warehouse: Warehouse) -> str:
    """The province the session ingests for (core.warehouse.connect sets it from the
    settings): every raw row, run, watermark and rejected record is keyed by it."""
    if warehouse.province_code is None:
        raise RuntimeError(
            "this warehouse session ingests for no province: open it with one province's "
            "settings (Settings.for_province) or pass province_code"
        )
    return warehouse.province_code


def read_watermark(warehouse: Warehouse, source: str) -> str | None:
    rows = warehouse.fetch(
        "select watermark from ops.source_state where province_code = ? and source = ?",
        [province_of(warehouse), source],
    )
    return rows[0][0] if rows else None


def write_watermark(warehouse: Warehouse, source: str, watermark: str) -> None:
    province = province_of(warehouse)
    warehouse.execute(
        "delete from ops.source_state where province_code = ? and source = ?", [province, source]
    )
    warehouse.execute(
        "insert into ops.source_state (province_code, source, watermark, updated_at) "
        "values (?, ?, ?, ?)",
        [province, source, watermark, utc_now()],
    )


INTERRUPTED = (
    "interrupted: the process ended before the run finished (killed or crashed); its committed "
    "batches are kept and the next run went on after them"
)


def mark_interrupted(warehouse: Warehouse) -> int:
    """Mark the runs left ``running`` by a process that died as ``interrupted`` (call with the
    writer lock held: no run is really going on); returns how many."""
    return warehouse.execute_count(
        "update ops.ingest_runs set status = 'interrupted', finished_at = ?, message = ? "
        "where status = 'running'",
        [utc_now(), INTERRUPTED],
    )


def unfinished_runs(warehouse: Warehouse, since: datetime) -> list[tuple[str, str, int]]:
    """(run id, source, parts committed) of the runs since ``since`` that did not end well:
    the parts they landed beyond those were never committed."""
    return warehouse.fetch(
        "select run_id, source, coalesce(parts_committed, 0) from ops.ingest_runs "
        "where status in ('interrupted', 'failed') and started_at >= ? order by 1, 2",
        [since],
    )


def loaded_batches(warehouse: Warehouse, source: str) -> dict[str, str]:
    """The source's batches loaded so far: batch → fingerprint of its files."""
    rows = warehouse.fetch(
        "select batch, fingerprint from ops.loaded_batches where province_code = ? and source = ?",
        [province_of(warehouse), source],
    )
    return dict(rows)


def record_batch(
    warehouse: Warehouse, source: str, batch: str, fingerprint: str, run_id: str
) -> None:
    """Note a batch as loaded (call in the batch's transaction)."""
    province = province_of(warehouse)
    warehouse.execute(
        "delete from ops.loaded_batches where province_code = ? and source = ? and batch = ?",
        [province, source, batch],
    )
    warehouse.execute(
        "insert into ops.loaded_batches "
        "(province_code, source, batch, fingerprint, run_id, loaded_at) "
        "values (?, ?, ?, ?, ?, ?)",
        [province, source, batch, fingerprint, run_id, utc_now()],
    )


def advance_watermark(warehouse: Warehouse, source: str, batch: str) -> None:
    """Move the watermark to ``batch`` unless it is past it already (a late batch)."""
    current = read_watermark(warehouse, source)
    if current is None or batch > current:
        write_watermark(warehouse, source, batch)


def files_fingerprint(paths: Iterable[Path]) -> str:
    """Names, sizes and modification times of a batch's files: changes when one is replaced."""
    digest = hashlib.sha256()
    files: list[Path] = []
    for path in paths:  # a folder (of one message per file) by its files
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for path in sorted(files):
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def start_run(warehouse: Warehouse, run_id: str, source: str, watermark: str | None) -> None:
    warehouse.execute(
        "insert into ops.ingest_runs "
        "(run_id, source, province_code, started_at, status, watermark_from) "
        "values (?, ?, ?, ?, 'running', ?)",
        [run_id, source, province_of(warehouse), utc_now(), watermark],
    )


def add_to_run(
    warehouse: Warehouse,
    run_id: str,
    source: str,
    counts: RunCounts,
    watermark: str | None,
    parts: int = 1,
) -> None:
    """Add one committed batch's counts to the run, in the batch's own transaction, with the
    number of landed parts it commits (landed and committed in the same order: what
    landing.discard_uncommitted relies on)."""
    warehouse.execute(
        "update ops.ingest_runs set rows_read = rows_read + ?, rows_loaded = rows_loaded + ?, "
        "rows_rejected = rows_rejected + ?, rows_duplicate = rows_duplicate + ?, "
        "watermark_to = coalesce(?, watermark_to), "
        "parts_committed = coalesce(parts_committed, 0) + ? "
        "where run_id = ? and source = ?",
        [
            counts.read,
            counts.loaded,
            counts.rejected,
            counts.duplicate,
            watermark,
            parts,
            run_id,
            source,
        ],
    )


def finish_run(
    warehouse: Warehouse, run_id: str, source: str, status: str, message: str | None = None
) -> None:
    warehouse.execute(
        "update ops.ingest_runs set status = ?, finished_at = ?, message = ? "
        "where run_id = ? and source = ?",
        [status, utc_now(), message, run_id, source],
    )


def reject(warehouse: Warehouse, run_id: str, source: str, rejections: list[Rejection]) -> None:
    if not rejections:
        return
    now = utc_now()
    warehouse.append(
        "ops.rejected_records",
        pa.table(
            {
                "run_id": [run_id] * len(rejections),
                "source": [source] * len(rejections),
                "province_code": [province_of(warehouse)] * len(rejections),
                "record_key": [r.record_key for r in rejections],
                "reason": [r.reason for r in rejections],
                # Analysts read ops: personal values stay in the landing zone only.
                "payload": [redact(r.payload) for r in rejections],
                "rejected_at": pa.array([now] * len(rejections), pa.timestamp("us")),
            }
        ),
    )


def keyed_hashes(key: bytes, values: Iterable[object]) -> list[str | None]:
    """Pseudonymise personal identifiers: stable for joins, useless without the key
    (HMAC-SHA256 of the value's text, 32 hex digits; none for a missing value)."""
    inner, outer = _hmac_pads(key)
    digests: list[str | None] = []
    for value in values:
        if value is None or value == "":
            digests.append(None)
            continue
        # HMAC (RFC 2104) from the key's two padded states, hashed once per key: faster than
        # hmac.digest, which starts from the key for every value (bench/README.md).
        hashed = inner.copy()
        hashed.update(str(value).encode())
        signed = outer.copy()
        signed.update(hashed.digest())
        digests.append(signed.hexdigest()[:32])
    return digests


@functools.cache
def _hmac_pads(key: bytes) -> tuple[Any, Any]:
    block = hashlib.sha256(key).digest() if len(key) > 64 else key
    block = block.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


def keyed_hash(key: bytes, value: object) -> str | None:
    """:func:`keyed_hashes` of one value."""
    return keyed_hashes(key, (value,))[0]


_UNKNOWN: Any = object()  # not hashed yet


class Pseudonyms:
    """Keyed hashes of a run's personal values, each distinct value hashed once.

    The threads of a run share one (its checks run side by side). It remembers values across
    batches, for staff and signers who recur daily, and is emptied when it reaches
    ``capacity`` values, which bounds its memory (about 200 bytes a value). With no capacity
    it remembers nothing: each batch's distinct values are hashed once.
    """

    def __init__(self, key: bytes, capacity: int = 500_000) -> None:
        self.key = key
        self.capacity = capacity
        self.known: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def of(self, values: pl.Series) -> pl.Series:
        """The keyed hash of each value (text), null where it is null or empty."""
        # Each distinct value once: a dossier's versions repeat its applicant.
        encoded = pc.dictionary_encode(values.to_arrow())
        distinct = encoded.dictionary.to_pylist()
        hashes = self._remembered(distinct) if self.capacity else keyed_hashes(self.key, distinct)
        looked_up = pc.take(pa.array(hashes, pa.string()), encoded.indices)
        return pl.Series(values.name, looked_up, pl.String)

    def _remembered(self, distinct: list[str]) -> list[str | None]:
        known = self.known
        with self._lock:  # another thread may empty it meanwhile
            if len(known) + len(distinct) > self.capacity:
                known.clear()
            hashes = [known.get(value, _UNKNOWN) for value in distinct]
        unknown = [i for i, digest in enumerate(hashes) if digest is _UNKNOWN]
        fresh = [distinct[i] for i in unknown]
        for i, digest in zip(unknown, keyed_hashes(self.key, fresh), strict=True):
            hashes[i] = digest
        with self._lock:
            known.update((distinct[i], hashes[i]) for i in unknown)
        return hashes

    def replace(self, frame: pl.DataFrame, name: str, target: str) -> pl.DataFrame:
        """``frame`` with its column ``name`` replaced by the hashes, called ``target``."""
        return frame.with_columns(self.of(frame[name]).alias(target)).drop(name)


def dumps(record: object) -> str:
    """Compact UTF-8 JSON; orjson, as every landed or rejected record goes through here."""
    try:
        return orjson.dumps(record).decode()
    except TypeError:  # integers beyond 64 bits, which orjson refuses
        return json.dumps(record, ensure_ascii=False, separators=(",", ":"))
