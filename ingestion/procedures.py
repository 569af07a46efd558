"""Connector for the administrative-procedure system (national portal sync format).

Three feeds of the system's sync API: the agency directory (a snapshot), the dossier versions
pushed to the national portal (``/api/dossiers``, by ``NgayCapNhat``) and the progress events
(``/api/events``, by ``ThoiDiemXuLy``). Each feed is read page by page from its watermark; a
page is landed as read, validated against its contract (code lists from the system's own
catalogue and agency directory), stripped of personal data (the applicant and the staff
become keyed hashes) and loaded with its rejections, counts and watermark in one transaction,
so a run killed midway resumes where it stopped and loses nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import polars as pl
import pyarrow as pa

from govdata.settings import Settings
from govdata.warehouse import Warehouse
from ingestion import landing, ledger
from ingestion.contract import TIMESTAMP_FORMAT, TIMESTAMP_PATTERN, Contract, Field
from ingestion.ledger import IngestResult, Rejection, RunCounts
from ingestion.loader import RawTable, load_batch

SOURCE = "procedures.dossiers"
EVENTS_SOURCE = "procedures.events"
RAW_TABLE = "raw.procedures__dossiers"
AGENCIES_SOURCE = "procedures.agencies"
AGENCIES_TABLE = "raw.procedures__agencies"
AGENCY_FIELDS = ("MaDinhDanh", "TenCoQuan", "LoaiCoQuan", "MaDonViHanhChinh", "MaTinh",
                 "HieuLucTu", "HieuLucDen")  # fmt: skip

MAX_FEE_VND = 10**10  # no procedure fee comes near ten billion dong
LARGEST_FEE = "DanhSachLePhi.SoTien"  # derived: the largest fee of the dossier
STAMP = {"pattern": TIMESTAMP_PATTERN, "timestamp_format": TIMESTAMP_FORMAT}

# The national portal's sync payload (DongBoHoSoMC), as the connector accepts it. Scalars are
# checked as the text they arrived as; nested lists stay in the payload.
DOSSIER_CONTRACT = Contract(
    source=SOURCE,
    fields=(
        Field("MaHoSo", required=True, description="Dossier code"),
        Field("MaTTHC", required=True, codes="procedures", description="Procedure code"),
        Field("DonViXuLy", required=True, codes="agencies", description="Processing agency"),
        Field("NgayTiepNhan", required=True, **STAMP, description="Received"),
        Field("NgayHenTra", **STAMP, description="Due"),
        Field("NgayKetThucXuLy", **STAMP, description="Processing ended"),
        Field("NgayTra", **STAMP, description="Result returned"),
        Field("NgayCapNhat", required=True, **STAMP, description="Version pushed"),
        Field("TrangThaiHoSo", required=True, allowed=[str(n) for n in range(1, 11)]),
        Field("KenhThucHien", allowed=["1", "2", "3"], description="1 in person, 2 online, 3 post"),
        Field("LoaiDoiTuong", allowed=["1", "2"], description="1 citizen, 2 business"),
        Field(LARGEST_FEE, pl.Float64, minimum=0, maximum=MAX_FEE_VND),
        Field("ChuHoSo", personal=True),
        Field("SoDienThoaiChuHoSo", personal=True),
        Field("EmailChuHoSo", personal=True),
        Field("SoGiayToChuHoSo", personal=True),
    ),
)
# Personal data never goes past the landing zone; the applicant becomes a keyed hash.
PERSONAL_FIELDS = DOSSIER_CONTRACT.personal_fields

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


class SourceError(RuntimeError):
    """A permanent failure reading a source: names the source and what went wrong."""


@dataclass(frozen=True, slots=True)
class CodeLists:
    """The source's own reference data a record's codes must belong to."""

    procedures: frozenset[str]
    agencies: frozenset[str]

    def as_mapping(self) -> dict[str, frozenset[str]]:
        return {"procedures": self.procedures, "agencies": self.agencies}


def _text(value: object) -> str | None:
    """A scalar as the text it was sent as (numbers and booleans as JSON writes them)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _largest_fee(record: dict[str, Any]) -> float | None:
    """The largest fee amount; -1 when the fee list is not what the contract expects."""
    fees = record.get("DanhSachLePhi") or []
    if not isinstance(fees, list):
        return -1.0
    amounts = [fee.get("SoTien") if isinstance(fee, dict) else None for fee in fees]
    if any(not isinstance(a, int | float) or isinstance(a, bool) for a in amounts):
        return -1.0
    return float(max(amounts)) if amounts else None


def _readable(
    records: list[object],
) -> tuple[list[tuple[int, dict[str, Any]]], list[Rejection]]:
    """The records that are JSON objects (with their position), and rejections for the rest."""
    objects = [(i, r) for i, r in enumerate(records) if isinstance(r, dict)]
    rejections = [
        Rejection(None, "not a JSON object (a record the source could not encode as UTF-8 "
                  "JSON)", ledger.dumps(r))
        for r in records
        if not isinstance(r, dict)
    ]  # fmt: skip
    return objects, rejections


def split_records(
    records: list[object], codes: CodeLists
) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Validate a batch against the contract: (valid records in order, rejections)."""
    objects, rejections = _readable(records)
    if not objects:
        return [], rejections
    names = [f.name for f in DOSSIER_CONTRACT.fields if f.name != LARGEST_FEE]
    frame = pl.DataFrame(
        {name: [_text(r.get(name)) for _, r in objects] for name in names}
        | {LARGEST_FEE: [_largest_fee(r) for _, r in objects], "_i": [i for i, _ in objects]},
        schema={name: pl.String for name in names} | {LARGEST_FEE: pl.Float64, "_i": pl.Int64},
    )
    valid, rejected = DOSSIER_CONTRACT.split(frame, codes.as_mapping())
    for key, reason, index in rejected.select("MaHoSo", "_reason", "_i").iter_rows():
        rejections.append(Rejection(key, reason, ledger.dumps(records[index])))
    return [records[i] for i in valid["_i"]], rejections  # type: ignore[misc]


def pseudonymise(record: dict[str, object], key: bytes) -> dict[str, object]:
    cleaned = {k: v for k, v in record.items() if k not in PERSONAL_FIELDS}
    identity = record.get("SoGiayToChuHoSo") or record.get("ChuHoSo")
    cleaned["MaChuHoSoAnDanh"] = ledger.keyed_hash(key, identity)
    return cleaned


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
            procedures=frozenset(
                str(p["MaTTHC"]) for p in self.catalogue() if isinstance(p, dict)
            ),
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
DOSSIERS_TABLE = RawTable(
    RAW_TABLE,
    pa.schema([("record_key", pa.string()), ("updated_at", pa.string()),
               ("payload", pa.string())]),
    natural_key=("record_key",),
    updated="updated_at",
    json_columns=("payload",),
)  # fmt: skip
EVENTS_TABLE = RawTable(
    "raw.procedures__events",
    pa.schema([("record_key", pa.string()), ("status", pa.int64()),
               ("occurred_at", pa.string()), ("department", pa.string()),
               ("handler_key", pa.string())]),
    natural_key=("record_key", "status", "occurred_at"),
)  # fmt: skip
# Steps after reception cannot happen before the dossier was received.
AFTER_RECEPTION = 4


def split_events(
    records: list[object], receptions: dict[str, str]
) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Validate progress events: the contract, then their place in the dossier's story."""
    objects, rejections = _readable(records)
    if not objects:
        return [], rejections
    names = [f.name for f in EVENT_CONTRACT.fields]
    frame = pl.DataFrame(
        {name: [_text(r.get(name)) for _, r in objects] for name in names}
        | {"_i": [i for i, _ in objects],
           "_received": [receptions.get(str(r.get("MaHoSo"))) for _, r in objects]},
        schema={name: pl.String for name in names} | {"_i": pl.Int64, "_received": pl.String},
    )  # fmt: skip
    out_of_order = (
        (pl.col("TrangThai").cast(pl.Int64, strict=False) >= AFTER_RECEPTION)
        & pl.col("_received").is_not_null()
        & (pl.col("ThoiDiemXuLy") < pl.col("_received"))
    )
    valid, rejected = EVENT_CONTRACT.split(
        frame, extra_checks=[(out_of_order, "ThoiDiemXuLy: out of order, before the dossier "
                              "was received")]
    )  # fmt: skip
    for key, reason, index in rejected.select("MaHoSo", "_reason", "_i").iter_rows():
        rejections.append(Rejection(key, reason, ledger.dumps(records[index])))
    return [records[i] for i in valid["_i"]], rejections  # type: ignore[misc]


def _dossier_rows(records: list[dict[str, Any]], key: bytes) -> pa.Table:
    return pa.table(
        {
            "record_key": [str(r["MaHoSo"]) for r in records],
            "updated_at": [str(r["NgayCapNhat"]) for r in records],
            "payload": [ledger.dumps(pseudonymise(r, key)) for r in records],
        }
    )


def _event_rows(records: list[dict[str, Any]], key: bytes) -> pa.Table:
    return pa.table(
        {
            "record_key": [str(r["MaHoSo"]) for r in records],
            "status": pa.array([int(r["TrangThai"]) for r in records], pa.int64()),
            "occurred_at": [str(r["ThoiDiemXuLy"]) for r in records],
            "department": [r.get("PhongBanXuLy") for r in records],
            "handler_key": [ledger.keyed_hash(key, r.get("NguoiXuLy")) for r in records],
        }
    )


def _receptions(warehouse: Warehouse, records: list[object]) -> dict[str, str]:
    """When each dossier of a batch of events was received, from the raw layer."""
    codes = sorted({str(r["MaHoSo"]) for r in records if isinstance(r, dict) and r.get("MaHoSo")})
    if not codes:
        return {}
    placeholders = ", ".join("?" for _ in codes)
    rows = warehouse.fetch(
        f"select record_key, min(payload ->> 'NgayTiepNhan') from {RAW_TABLE} "
        f"where record_key in ({placeholders}) group by record_key",
        codes,
    )
    return {code: stamp for code, stamp in rows if stamp}


def _ingest_feed(
    settings: Settings,
    warehouse: Warehouse,
    source: str,
    path: str,
    table: RawTable,
    stamp_field: str,
    make_split: Callable[
        [], Callable[[list[object]], tuple[list[dict[str, Any]], list[Rejection]]]
    ],
    rows: Callable[[list[dict[str, Any]], bytes], pa.Table],
    api: ProceduresApi,
    run_id: str,
    on_page: Callable[[RunCounts], None] | None,
) -> IngestResult:
    """Page through one feed of the API from its watermark, one transaction per page."""
    started = time.monotonic()
    ledger.ensure_ops_schema(warehouse)
    table.ensure(warehouse)
    watermark = ledger.read_watermark(warehouse, source)
    result = IngestResult(source, run_id, "running", watermark_from=watermark)
    ledger.start_run(warehouse, run_id, source, watermark)
    key = settings.pii_key()
    try:
        split = make_split()  # reads the code lists: a source that is down fails the run here
        for part, page in enumerate(api.pages(watermark, settings.page_size, path)):
            landing.land(settings, source, run_id, part, landing.lines_table(
                [ledger.dumps(r).encode() for r in page.records], f"GET {path}"))  # fmt: skip
            accepted, rejections = split(page.records)
            with warehouse.transaction():
                counts = load_batch(warehouse, run_id, source, table, rows(accepted, key),
                                    rejections, read=len(page.records))  # fmt: skip
                stamps = [str(r[stamp_field]) for r in accepted]
                if stamps and (watermark is None or max(stamps) > watermark):
                    watermark = max(stamps)
                    ledger.write_watermark(warehouse, source, watermark)
                ledger.add_to_run(warehouse, run_id, source, counts, watermark)
            result.counts.add(counts)
            if on_page:
                on_page(counts)
    except Exception as error:
        ledger.finish_run(warehouse, run_id, source, "failed", str(error)[:1000])
        result.status = "failed"
        raise
    ledger.finish_run(warehouse, run_id, source, "success")
    result.status = "success"
    result.watermark_to = watermark
    result.seconds = time.monotonic() - started
    return result


def ingest_dossiers(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str | None = None,
    api: ProceduresApi | None = None,
    on_page: Callable[[RunCounts], None] | None = None,
) -> IngestResult:
    """Bring the dossier versions pushed since the last watermark into the raw layer."""
    api = api or ProceduresApi(settings.procedures_api_url, settings.http_timeout_seconds)

    def make_split() -> Callable[[list[object]], tuple[list[dict[str, Any]], list[Rejection]]]:
        codes = api.code_lists()
        return lambda records: split_records(records, codes)

    try:
        return _ingest_feed(
            settings, warehouse, SOURCE, "/api/dossiers", DOSSIERS_TABLE, "NgayCapNhat",
            make_split, _dossier_rows, api, run_id or ledger.new_run_id(), on_page,
        )  # fmt: skip
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
    api = api or ProceduresApi(settings.procedures_api_url, settings.http_timeout_seconds)
    try:
        return _ingest_feed(
            settings, warehouse, EVENTS_SOURCE, "/api/events", EVENTS_TABLE, "ThoiDiemXuLy",
            lambda: lambda records: split_events(records, _receptions(warehouse, records)),
            _event_rows, api, run_id or ledger.new_run_id(), on_page,
        )  # fmt: skip
    finally:
        api.close()


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


def _snapshot_split(
    records: list[object], contract: Contract
) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Validate a reference snapshot: its fields as text, checked against the contract."""
    objects, rejections = _readable(records)
    names = [f.name for f in contract.fields]
    frame = pl.DataFrame(
        {name: [_text(r.get(name)) for _, r in objects] for name in names}
        | {"_i": [i for i, _ in objects]},
        schema={name: pl.String for name in names} | {"_i": pl.Int64},
    )
    valid, rejected = contract.split(frame)
    for key, reason, index in rejected.select(names[0], "_reason", "_i").iter_rows():
        rejections.append(Rejection(key, reason, ledger.dumps(records[index])))
    return valid.drop("_i").to_dicts(), rejections


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
        valid, rejections = _snapshot_split(records, contract)
        counts = RunCounts(read=len(records), loaded=len(valid), rejected=len(rejections))
        now = ledger.utc_now()
        rows = pa.table(
            {name: pa.array([r[name] or None for r in valid], pa.string()) for name in names}
            | {
                "_run_id": pa.array([run_id] * len(valid), pa.string()),
                "_loaded_at": pa.array([now] * len(valid), pa.timestamp("us")),
            }
        )
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
