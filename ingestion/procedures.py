"""Connector for the administrative-procedure system (national portal sync format).

Reference data (snapshots, replaced each run): the agency directory and the procedure
catalogue. Two feeds, read one of two ways (``GOVDATA_PROCEDURES_TRANSPORT``):

- **api**: the sync API's dossier versions pushed to the national portal (``/api/dossiers``,
  by ``NgayCapNhat``) and progress events (``/api/events``, by ``ThoiDiemXuLy``), page by page
  from the feed's watermark (sources ``procedures.dossiers`` and ``procedures.events``);
- **files**: the same payloads exported as JSON lines (``dossiers*.jsonl[.gz]``,
  ``events*.jsonl[.gz]``, or ``*.json`` arrays) in ``GOVDATA_PROCEDURES_EXPORT_DIR``, read in
  blocks of whole lines (sources ``procedures.dossier_exports`` and
  ``procedures.event_exports``; the watermark is each file's loaded bytes, see
  :class:`ingestion.lines.FileProgress`).

Either way a page or block is landed as read, parsed in one DuckDB pass
(:func:`ingestion.lines.parse_objects`), validated against its contract with polars (code
lists from the system's own catalogue and agency directory), stripped of personal data (the
applicant and the staff become keyed hashes) and loaded with its rejections, counts and
watermark in one transaction, so a run killed midway resumes where it stopped and loses
nothing. Both transports load the same raw tables with the same rows. Reading and landing,
checking (two at a time), and loading run side by side on consecutive pages or blocks
(:func:`_checked_ahead`); the commits stay in order.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import duckdb
import httpx
import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import Warehouse, one_thread_per_statement
from ingestion import landing, ledger
from ingestion.contract import TIMESTAMP, TIMESTAMP_FORMAT, TIMESTAMP_PATTERN, Contract, Field
from ingestion.ledger import IngestResult, Rejection, RunCounts
from ingestion.lines import (
    Block,
    FileProgress,
    decode_for_storage,
    head_fingerprint,
    parse_objects,
    read_blocks,
    utf8_column,
)
from ingestion.loader import RawTable, load_batch

SOURCE = "procedures.dossiers"
EVENTS_SOURCE = "procedures.events"
EXPORT_SOURCE = "procedures.dossier_exports"
EVENTS_EXPORT_SOURCE = "procedures.event_exports"
RAW_TABLE = "raw.procedures__dossiers"
AGENCIES_SOURCE = "procedures.agencies"
AGENCIES_TABLE = "raw.procedures__agencies"
AGENCY_FIELDS = ("MaDinhDanh", "TenCoQuan", "LoaiCoQuan", "MaDonViHanhChinh", "MaTinh",
                 "HieuLucTu", "HieuLucDen")  # fmt: skip

MAX_FEE_VND = 10**10  # no procedure fee comes near ten billion dong
LARGEST_FEE = "DanhSachLePhi.SoTien"  # derived: the largest fee of the dossier
STAMP = {"pattern": TIMESTAMP_PATTERN, "timestamp_format": TIMESTAMP_FORMAT}  # kept as text
TYPED_STAMP = {**STAMP, "raw_type": TIMESTAMP}  # kept as a timestamp once checked
BOOLEAN = {"allowed": ["true", "false"], "raw_type": pa.bool_()}
CODE = {"raw_type": pa.int32()}  # small integer codes, checked against their list
APPLICANT_KEY = "MaChuHoSoAnDanh"  # keyed hash of the applicant's identity number (else name)

# The national portal's sync payload (DongBoHoSoMC), as the connector accepts it. Scalars are
# checked as the text they arrived as and kept so, but for codes, booleans and timestamps,
# typed once checked; nested lists are kept as JSON.
DOSSIER_CONTRACT = Contract(
    source=SOURCE,
    fields=(
        Field("MaHoSo", required=True, description="Dossier code"),
        Field("MaTTHC", required=True, codes="procedures", description="Procedure code"),
        Field("TenTTHC", description="Procedure name"),
        Field("MaLinhVuc", description="Field code"),
        Field("ChuHoSo", personal=True, description="Applicant"),
        Field("SoDienThoaiChuHoSo", personal=True),
        Field("EmailChuHoSo", personal=True),
        Field("SoGiayToChuHoSo", personal=True, description="Applicant's identity number"),
        Field("LoaiDoiTuong", allowed=["1", "2"], **CODE, description="1 citizen, 2 business"),
        Field("NgayTiepNhan", required=True, **TYPED_STAMP, description="Received"),
        Field("NgayHenTra", **TYPED_STAMP, description="Due"),
        Field("NgayKetThucXuLy", **TYPED_STAMP, description="Processing ended"),
        Field("NgayTra", **TYPED_STAMP, description="Result returned"),
        Field("TrangThaiHoSo", required=True, allowed=[str(n) for n in range(1, 11)], **CODE),
        Field("KenhThucHien", allowed=["1", "2", "3"], **CODE,
              description="1 in person, 2 online, 3 post"),
        Field("DonViXuLy", required=True, codes="agencies", description="Processing agency"),
        Field("DuocThanhToanTrucTuyen", **BOOLEAN, description="Paid online"),
        Field("HoSoCoThanhPhanSoHoa", **BOOLEAN, description="Has digitised inputs"),
        Field("TaiKhoanDuocXacThucVoiVNeID", **BOOLEAN, description="VNeID-verified account"),
        Field("CoPhanAnhKienNghi", **BOOLEAN, description="A complaint was filed"),
        Field("TaiLieuNop", json=True, description="Submitted documents"),
        Field("DanhSachLePhi", json=True, description="Fees and charges"),
        Field("DanhSachGiayToKetQua", json=True, description="Result documents"),
        Field("NgayCapNhat", required=True, **TYPED_STAMP, description="Version pushed"),
        Field(LARGEST_FEE, pl.Float64, minimum=0, maximum=MAX_FEE_VND, derived=(
            # -1 (below the minimum) when the list is not a list of amounts
            """case when "DanhSachLePhi" is null then null
                    when json_type("DanhSachLePhi") <> 'ARRAY' then -1
                    when json_array_length("DanhSachLePhi") = 0 then null
                    when len(list_filter(json_extract("DanhSachLePhi", '$[*].SoTien'),
                             lambda v: json_type(v) in ('UBIGINT', 'BIGINT', 'HUGEINT', 'DOUBLE')))
                         < json_array_length("DanhSachLePhi") then -1
                    else list_max(list_transform(json_extract("DanhSachLePhi", '$[*].SoTien'),
                                                 lambda v: cast(v as double))) end"""
        ), description="Largest fee of the dossier (checked, not stored)"),
    ),
)  # fmt: skip
# Personal data never goes past the landing zone; the applicant becomes a keyed hash.
PERSONAL_FIELDS = DOSSIER_CONTRACT.personal_fields
DOSSIERS_TABLE = RawTable(
    RAW_TABLE,
    DOSSIER_CONTRACT.raw_schema.append(pa.field(APPLICANT_KEY, pa.string())),
    natural_key=("MaHoSo",),
    updated="NgayCapNhat",
    json_columns=DOSSIER_CONTRACT.json_fields,
)

Part = TypeVar("Part")
Resource = TypeVar("Resource")
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class CodeLists:
    """The source's own reference data a record's codes must belong to."""

    procedures: frozenset[str]
    agencies: frozenset[str]

    def as_mapping(self) -> dict[str, frozenset[str]]:
        return {"procedures": self.procedures, "agencies": self.agencies}

    @classmethod
    def from_warehouse(cls, warehouse: Warehouse) -> CodeLists:
        """The catalogue and agency directory loaded in the raw layer (load them first)."""
        try:
            procedures = warehouse.fetch('select "MaTTHC" from raw.procedures__catalogue')
            agencies = warehouse.fetch('select "MaDinhDanh" from raw.procedures__agencies')
        except Exception as error:  # the snapshot tables do not exist yet
            raise SourceError(
                f"procedures: load the catalogue and agency directory before the dossiers ({error})"
            ) from error
        if not procedures or not agencies:
            raise SourceError("procedures: the catalogue or agency directory is empty")
        return cls(frozenset(r[0] for r in procedures), frozenset(r[0] for r in agencies))


@dataclass(slots=True)
class Batch:
    """A page or block of lines, checked: raw rows to load and the rejected lines."""

    rows: pa.Table  # each version once
    rejections: list[Rejection]
    read: int
    stamps: pl.Series  # the loaded records' update times, for the watermark


Check = Callable[[pa.Array, Callable[[int], str] | None], Batch]


def _parse(
    engine: duckdb.DuckDBPyConnection,
    lines: pa.Array,
    contract: Contract,
    checked: tuple[str, ...] | None = None,
) -> tuple[pa.Table, pl.DataFrame, list[tuple[int, str, str | None]]]:
    """(every line's fields, one row per line; the ``checked`` fields (else all) of the
    readable lines, for polars; (line index, reason, key) of the unreadable lines)."""
    texts, _ = utf8_column(lines)
    parsed = parse_objects(engine, texts, contract.scalar_fields, contract.json_fields,
                           contract.derived)  # fmt: skip
    wanted = parsed.column_names if checked is None else ["_i", "_problem", *checked]
    fields = pl.from_arrow(parsed.select(wanted))
    assert isinstance(fields, pl.DataFrame)
    unreadable = fields.filter(pl.col("_problem").is_not_null())
    problems = [(i, reason, None) for i, reason in unreadable.select("_i", "_problem").iter_rows()]
    return parsed, fields.filter(pl.col("_problem").is_null()).drop("_problem"), problems


def _rows_of(parsed: pa.Table, kept: pl.Series) -> pa.Table:
    """The parsed rows of the lines ``kept`` (ascending line indexes)."""
    if len(kept) == parsed.num_rows:  # every line (the usual batch): no copy
        return parsed
    return parsed.take(kept.to_arrow())


def _rejections(
    lines: pa.Array,
    located: Callable[[int], str] | None,
    problems: list[tuple[int, str, str | None]],
) -> list[Rejection]:
    """Rejected lines with their reason, the original text and a key (else where they were)."""
    return [
        Rejection(key or (located(index) if located else None), reason,
                  decode_for_storage(lines[index].as_py()))
        for index, reason, key in sorted(problems)
    ]  # fmt: skip


# What the contract checks: only these fields of a record go to polars.
DOSSIER_CHECKED = tuple(f.name for f in DOSSIER_CONTRACT.fields if f.checked and not f.json)


def check_dossiers(
    engine: duckdb.DuckDBPyConnection,
    lines: pa.Array,
    codes: CodeLists,
    pseudonyms: ledger.Pseudonyms,
    located: Callable[[int], str] | None = None,
) -> Batch:
    """Validate a batch of dossier lines and turn the valid ones into raw rows.

    Lines are parsed once by ``engine`` into Arrow; only the checked and personal fields go
    to polars, and the applicant becomes a keyed hash: no record passes through Python.
    """
    parsed, records, problems = _parse(engine, lines, DOSSIER_CONTRACT,
                                       (*DOSSIER_CHECKED, *PERSONAL_FIELDS))  # fmt: skip
    valid, rejected = DOSSIER_CONTRACT.split(records, codes.as_mapping())
    problems += list(rejected.select("_i", "_reason", "MaHoSo").iter_rows())
    # A version sent twice in one batch is loaded once (the copy counts as a duplicate).
    valid = valid.filter(pl.struct("MaHoSo", "NgayCapNhat").is_first_distinct())
    # The applicant: the identity number, else the name.
    identity = valid.select(
        pl.when(pl.col("SoGiayToChuHoSo") != "").then(pl.col("SoGiayToChuHoSo"))
        .otherwise(pl.col("ChuHoSo")).alias(APPLICANT_KEY)
    ).to_series()  # fmt: skip
    rows = _rows_of(parsed, valid["_i"]).select(list(DOSSIER_CONTRACT.stored_fields))
    # Timestamps typed here, beside the other checks: the load, which commits one batch after
    # another, stores a block a quarter faster with them typed than as text (0.57 -> 0.43 s).
    for name, stamps in DOSSIER_CONTRACT.timestamps(valid).items():
        rows = rows.set_column(rows.schema.get_field_index(name), name, stamps.to_arrow())
    rows = rows.append_column(APPLICANT_KEY, pseudonyms.of(identity).to_arrow())
    return Batch(rows, _rejections(lines, located, problems), len(lines), valid["NgayCapNhat"])


@dataclass(slots=True)
class Page:
    records: list[object]
    next_cursor: str | None


class ProceduresApi:
    """Client of the sync API with retries and backoff for transient failures."""

    def __init__(
        self, base_url: str, timeout: float, attempts: int = 5, backoff_seconds: float = 0.5
    ) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=timeout)
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds

    def pages(
        self, updated_since: str | None, page_size: int, path: str = "/api/dossiers"
    ) -> Iterator[Page]:
        cursor: str | None = None
        while True:
            params = {"limit": str(page_size)}
            if updated_since:
                params["updated_since"] = updated_since
            if cursor:
                params["cursor"] = cursor
            body = self._get(path, params)
            page = Page(records=body["data"], next_cursor=body.get("next_cursor"))
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def code_lists(self) -> CodeLists:
        return CodeLists(
            procedures=frozenset(str(p["MaTTHC"]) for p in self.catalogue() if isinstance(p, dict)),
            agencies=frozenset(
                str(a["MaDinhDanh"]) for a in self.agencies() if isinstance(a, dict)
            ),
        )

    def agencies(self) -> list[object]:
        return self._list("/api/agencies", AGENCIES_SOURCE)

    def catalogue(self) -> list[object]:
        return self._list("/api/procedures", CATALOGUE_SOURCE)

    def _list(self, path: str, source: str) -> list[object]:
        body = self._get(path, {})
        if not isinstance(body, list):
            raise SourceError(f"{source}: GET {path} did not return a list")
        return body

    def _get(self, path: str, params: dict[str, str]) -> Any:
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.client.get(path, params=params)
            except httpx.TransportError as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if response.status_code not in TRANSIENT_STATUS:
                    if response.status_code != 200:
                        raise SourceError(
                            f"{SOURCE}: GET {path} answered {response.status_code}: "
                            f"{response.text[:200]}"
                        )
                    try:
                        return response.json()
                    except json.JSONDecodeError as error:
                        raise SourceError(
                            f"{SOURCE}: GET {path} returned invalid JSON: {error}"
                        ) from error
                problem = f"HTTP {response.status_code}"
            if attempt < self.attempts:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise SourceError(f"{SOURCE}: GET {path} failed {self.attempts} times, last: {problem}")

    def close(self) -> None:
        self.client.close()


EVENT_CONTRACT = Contract(
    source=EVENTS_SOURCE,
    fields=(
        Field("MaHoSo", required=True, description="Dossier code"),
        Field("TrangThai", required=True, allowed=[str(n) for n in range(1, 11)]),
        Field("ThoiDiemXuLy", required=True, **STAMP, description="When the step happened"),
        Field("PhongBanXuLy", description="Agency code / department that acted"),
        Field("NguoiXuLy", personal=True, description="Staff account that acted"),
    ),
)
EVENTS_TABLE = RawTable(
    "raw.procedures__events",
    pa.schema([("record_key", pa.string()), ("status", pa.int64()),
               ("occurred_at", pa.string()), ("department", pa.string()),
               ("handler_key", pa.string())]),
    natural_key=("record_key", "status", "occurred_at"),
    bounded_by="occurred_at",
)  # fmt: skip
# Steps after reception cannot happen before the dossier was received.
AFTER_RECEPTION = 4
OUT_OF_ORDER = "ThoiDiemXuLy: out of order, before the dossier was received"


def receptions(warehouse: Warehouse, codes: pl.Series) -> pl.DataFrame:
    """When each of the dossiers was received, from the raw layer (MaHoSo, _received), as
    the portal writes it (yyyyMMddHHmmss), to compare with the events' text."""
    codes = codes.drop_nulls().unique()
    empty = pl.DataFrame(schema={"MaHoSo": pl.String, "_received": pl.String})
    if codes.is_empty():
        return empty
    with warehouse.staged(pa.table({"MaHoSo": codes.to_arrow()}), RAW_TABLE) as staged:
        rows = warehouse.fetch(
            f'select d."MaHoSo", min(d."NgayTiepNhan") from {RAW_TABLE} d '
            f'join {staged} c on d."MaHoSo" = c."MaHoSo" group by 1'
        )
    if not rows:
        return empty
    received = pl.DataFrame(rows, schema={"MaHoSo": pl.String, "_received": pl.Datetime("us")},
                            orient="row")  # fmt: skip
    return received.with_columns(pl.col("_received").dt.strftime(TIMESTAMP_FORMAT))


def check_events(
    engine: duckdb.DuckDBPyConnection,
    lines: pa.Array,
    received: Callable[[pl.Series], pl.DataFrame],
    pseudonyms: ledger.Pseudonyms,
    located: Callable[[int], str] | None = None,
) -> Batch:
    """Validate progress events: the contract, then their place in the dossier's story."""
    _, records, problems = _parse(engine, lines, EVENT_CONTRACT)
    records = records.join(
        received(records["MaHoSo"]), on="MaHoSo", how="left", maintain_order="left"
    )
    out_of_order = (
        (pl.col("TrangThai").cast(pl.Int64, strict=False) >= AFTER_RECEPTION)
        & pl.col("_received").is_not_null()
        & (pl.col("ThoiDiemXuLy") < pl.col("_received"))
    )
    valid, rejected = EVENT_CONTRACT.split(records, extra_checks=[(out_of_order, OUT_OF_ORDER)])
    problems += list(rejected.select("_i", "_reason", "MaHoSo").iter_rows())
    valid = valid.filter(pl.struct("MaHoSo", "TrangThai", "ThoiDiemXuLy").is_first_distinct())
    rows = valid.select(
        pl.col("MaHoSo").alias("record_key"),
        pl.col("TrangThai").cast(pl.Int64).alias("status"),
        pl.col("ThoiDiemXuLy").alias("occurred_at"),
        pl.col("PhongBanXuLy").alias("department"),
        pseudonyms.of(valid["NguoiXuLy"]).alias("handler_key"),
    )
    return Batch(rows.to_arrow(), _rejections(lines, located, problems), len(lines),
                 valid["ThoiDiemXuLy"])  # fmt: skip


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


class _PerThread(Generic[Resource]):
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


def _engines() -> _PerThread[duckdb.DuckDBPyConnection]:
    return _PerThread(lambda: duckdb.connect(config=ONE_THREAD), lambda engine: engine.close())


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


def _run(
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


def _load_in_order(
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

        _load_in_order(
            warehouse, run_id, feed, result, pages,
            lambda page: (pa.array(page[1], pa.large_binary()), None), land, after, on_page,
        )  # fmt: skip
        return mark

    return _run(warehouse, feed.source, run_id, watermark, read)


def export_files(directory: Path, stem: str) -> list[Path]:
    """A feed's export files, in name order: ``<stem>*.jsonl[.gz]``, ``.ndjson``, ``.json``."""
    suffixes = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json")
    return sorted(p for p in directory.glob(f"{stem}*") if p.name.endswith(suffixes))


def _json_array_block(path: Path, origin: str) -> Block:
    """A ``.json`` export (one array of records) as one block of lines."""
    try:
        records = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise SourceError(f"{origin} is not valid JSON: {error}") from error
    if not isinstance(records, list):
        raise SourceError(f"{origin} is not a JSON array of records")
    lines = pa.array([orjson.dumps(r) for r in records], pa.large_binary())
    return Block(origin, lines, np.arange(1, len(records) + 1), path.stat().st_size,
                 len(records) + 1)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _ExportBlock:
    part: int  # numbered within the run, for the landing zone
    name: str
    head: str  # the file's fingerprint
    block: Block


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

        def land(item: _ExportBlock) -> object:
            block = item.block
            table = landing.lines_table(block.lines, block.origin, block.numbers)
            return landing.land(settings, feed.source, run_id, item.part, table)

        def after(item: _ExportBlock, _: Batch) -> str:
            block = item.block
            progress.advance(item.name, item.head, block.end, block.next_line)
            return progress.dumps()

        _load_in_order(
            warehouse, run_id, feed, result, _export_blocks(files, progress),
            lambda item: (item.block.lines, item.block.location), land, after, on_page,
        )  # fmt: skip
        return progress.dumps() if progress.files else None

    return _run(warehouse, feed.source, run_id, watermark, read)


def _export_blocks(files: list[Path], progress: FileProgress) -> Iterator[_ExportBlock]:
    """The blocks of lines not loaded yet, file after file, from where each was left."""
    part = 0
    for path in files:
        origin = f"procedures/{path.name}"
        head, size = head_fingerprint(path), path.stat().st_size
        offset, line = progress.resume_point(path.name, head, size)
        if path.suffix == ".json":
            blocks = iter([_json_array_block(path, origin)] if offset < size else [])
        else:
            blocks = read_blocks(path, origin, offset, line)
        for block in blocks:
            yield _ExportBlock(part, path.name, head, block)
            part += 1


def _dossier_feed(source: str, code_lists: Callable[[], CodeLists], key: bytes) -> Feed:
    @contextmanager
    def checking() -> Iterator[Check]:
        codes = code_lists()
        # An applicant seldom recurs beyond a dossier's versions in one block: remembering
        # a year of them would cost more than hashing them again.
        pseudonyms = ledger.Pseudonyms(key, capacity=0)
        with closing(_engines()) as engines:
            yield lambda lines, located: check_dossiers(
                engines.get(), lines, codes, pseudonyms, located
            )

    return Feed(source, DOSSIERS_TABLE, checking)


def _event_feed(source: str, warehouse: Warehouse, key: bytes) -> Feed:
    @contextmanager
    def checking() -> Iterator[Check]:
        pseudonyms = ledger.Pseudonyms(key)
        # The checks run beside the loads: they read the receptions on connections of their own.
        with (
            closing(_engines()) as engines,
            closing(_PerThread(warehouse.sibling, lambda reader: reader.close())) as readers,
        ):
            yield lambda lines, located: check_events(
                engines.get(), lines, lambda codes: receptions(readers.get(), codes), pseudonyms,
                located,
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
        feed = _dossier_feed(SOURCE, api.code_lists, settings.pii_key())
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
        feed = _event_feed(EVENTS_SOURCE, warehouse, settings.pii_key())
        return _ingest_pages(settings, warehouse, feed, "/api/events", api,
                             run_id or ledger.new_run_id(), on_page)  # fmt: skip
    finally:
        api.close()


def ingest_dossier_exports(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str | None = None,
    on_page: Callable[[RunCounts], None] | None = None,
) -> IngestResult:
    """Bring the dossier versions of the export files into the raw layer."""
    feed = _dossier_feed(
        EXPORT_SOURCE, lambda: CodeLists.from_warehouse(warehouse), settings.pii_key()
    )
    files = export_files(settings.procedures_exports_dir, "dossiers")
    return _ingest_exports(settings, warehouse, feed, files, run_id or ledger.new_run_id(),
                           on_page)  # fmt: skip


def ingest_event_exports(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str | None = None,
    on_page: Callable[[RunCounts], None] | None = None,
) -> IngestResult:
    """Bring the progress events of the export files (ingest dossiers first)."""
    feed = _event_feed(EVENTS_EXPORT_SOURCE, warehouse, settings.pii_key())
    files = export_files(settings.procedures_exports_dir, "events")
    return _ingest_exports(settings, warehouse, feed, files, run_id or ledger.new_run_id(),
                           on_page)  # fmt: skip


CATALOGUE_SOURCE = "procedures.catalogue"
CATALOGUE_TABLE = "raw.procedures__catalogue"
# The procedure catalogue (TTHC) as the system publishes it; raw keeps the text, staging types it.
CATALOGUE_CONTRACT = Contract(
    source=CATALOGUE_SOURCE,
    fields=(
        Field("MaTTHC", required=True, description="Procedure code"),
        Field("TenTTHC", required=True, description="Procedure name"),
        Field("MaLinhVuc", required=True, description="Field code"),
        Field("TenLinhVuc", description="Field name"),
        Field("CapThucHien", required=True, allowed=["tinh", "huyen", "xa"],
              description="Level: province, district (until 30/6/2025), commune"),
        Field("MucDoDVC", required=True, allowed=["toan_trinh", "mot_phan", "khong"],
              description="Online service: full-process, partial, none"),
        Field("ThoiHanGiaiQuyet", required=True, pattern=r"^\d{1,3}$",
              description="Legal processing time, working days"),
        Field("CoPhiLePhi", required=True, allowed=["true", "false"],
              description="Fee-bearing"),
        Field("YeuCauKetQuaDienTu", required=True, allowed=["true", "false"],
              description="A result document is required"),
    ),
)  # fmt: skip
AGENCY_CONTRACT = Contract(
    source=AGENCIES_SOURCE,
    fields=tuple(Field(name, required=name == "MaDinhDanh") for name in AGENCY_FIELDS),
)


def _snapshot_split(records: list[object], contract: Contract) -> tuple[pa.Table, list[Rejection]]:
    """Validate a reference snapshot: (valid rows, empty text as null; rejections)."""
    lines = pa.array([orjson.dumps(r) for r in records], pa.large_binary())
    with duckdb.connect() as engine:
        _, records, problems = _parse(engine, lines, contract)
    valid, rejected = contract.split(records)
    names = list(contract.stored_fields)
    problems += list(rejected.select("_i", "_reason", names[0]).iter_rows())
    rows = valid.select(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in names)
    return rows.to_arrow().cast(contract.raw_schema), _rejections(lines, None, problems)


def _replace_snapshot(
    warehouse: Warehouse,
    run_id: str,
    contract: Contract,
    table: str,
    fetch: Callable[[], list[object]],
) -> IngestResult:
    """Replace a reference table with the source's current snapshot, in one transaction."""
    started = time.monotonic()
    ledger.ensure_ops_schema(warehouse)
    names = [f.name for f in contract.fields]
    columns = ", ".join(f'"{name}" varchar' for name in names)
    warehouse.execute(
        f"create table if not exists {table} ({columns}, _run_id varchar not null, "
        "_loaded_at timestamp not null)"
    )
    result = IngestResult(contract.source, run_id, "running")
    ledger.start_run(warehouse, run_id, contract.source, None)
    try:
        records = fetch()
        rows, rejections = _snapshot_split(records, contract)
        counts = RunCounts(read=len(records), loaded=rows.num_rows, rejected=len(rejections))
        now = ledger.utc_now()
        rows = rows.append_column("_run_id", pa.array([run_id] * rows.num_rows, pa.string()))
        rows = rows.append_column("_loaded_at", pa.array([now] * rows.num_rows, pa.timestamp("us")))
        with warehouse.transaction():
            warehouse.execute(f"delete from {table}")
            warehouse.append(table, rows)
            ledger.reject(warehouse, run_id, contract.source, rejections)
            ledger.add_to_run(warehouse, run_id, contract.source, counts, None)
        result.counts.add(counts)
    except Exception as error:
        ledger.finish_run(warehouse, run_id, contract.source, "failed", str(error)[:1000])
        result.status = "failed"
        raise
    ledger.finish_run(warehouse, run_id, contract.source, "success")
    result.status = "success"
    result.seconds = time.monotonic() - started
    return result


def ingest_agencies(settings: Settings, warehouse: Warehouse, run_id: str | None = None,
                    api: ProceduresApi | None = None) -> IngestResult:  # fmt: skip
    """Replace the agency directory's snapshot: electronic identifier codes and validity."""
    api = api or ProceduresApi(settings.procedures_api_url, settings.http_timeout_seconds)
    try:
        return _replace_snapshot(warehouse, run_id or ledger.new_run_id(), AGENCY_CONTRACT,
                                 AGENCIES_TABLE, api.agencies)  # fmt: skip
    finally:
        api.close()


def ingest_catalogue(settings: Settings, warehouse: Warehouse, run_id: str | None = None,
                     api: ProceduresApi | None = None) -> IngestResult:  # fmt: skip
    """Replace the procedure catalogue's snapshot: online mode, level, legal time, fees."""
    api = api or ProceduresApi(settings.procedures_api_url, settings.http_timeout_seconds)
    try:
        return _replace_snapshot(warehouse, run_id or ledger.new_run_id(), CATALOGUE_CONTRACT,
                                 CATALOGUE_TABLE, api.catalogue)  # fmt: skip
    finally:
        api.close()


def ingest_reference_exports(
    settings: Settings, warehouse: Warehouse, run_id: str | None = None
) -> list[IngestResult]:
    """The catalogue (``catalogue.json`` beside the exports) and the agency directory
    (``reference/agencies.csv`` beside the export folder, as the document system has it)."""
    directory = settings.procedures_exports_dir
    agencies = directory.parent / "reference" / "agencies.csv"

    def catalogue() -> list[object]:
        path = directory / "catalogue.json"
        try:
            records = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as error:
            raise SourceError(f"{CATALOGUE_SOURCE}: cannot read {path}: {error}") from error
        if not isinstance(records, list):
            raise SourceError(f"{CATALOGUE_SOURCE}: {path} is not a JSON array")
        return records

    def directory_rows() -> list[object]:
        try:
            with agencies.open(encoding="utf-8", newline="") as handle:
                return [dict(row) for row in csv.DictReader(handle)]
        except OSError as error:
            raise SourceError(f"{AGENCIES_SOURCE}: cannot read {agencies}: {error}") from error

    run_id = run_id or ledger.new_run_id()
    return [
        _replace_snapshot(warehouse, run_id, AGENCY_CONTRACT, AGENCIES_TABLE, directory_rows),
        _replace_snapshot(warehouse, run_id, CATALOGUE_CONTRACT, CATALOGUE_TABLE, catalogue),
    ]
