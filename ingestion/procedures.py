"""Connector for the administrative-procedure system (national portal sync format).

Reads dossiers from the system's sync API page by page from the source's watermark, lands the
original payloads, validates each record against the contract below, pseudonymises the
applicant and appends the new versions to ``raw.procedures__dossiers``. Every page is committed
with its watermark, so a run killed midway resumes where it stopped and loses nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pyarrow as pa

from govdata.settings import Settings
from govdata.warehouse import Warehouse
from ingestion import ledger
from ingestion.contract import TIMESTAMP_FORMAT, TIMESTAMP_PATTERN, Contract, Field
from ingestion.ledger import IngestResult, Rejection, RunCounts

SOURCE = "procedures.dossiers"
RAW_TABLE = "raw.procedures__dossiers"
AGENCIES_SOURCE = "procedures.agencies"
AGENCIES_TABLE = "raw.procedures__agencies"
AGENCY_FIELDS = ("MaDinhDanh", "TenCoQuan", "LoaiCoQuan", "MaDonViHanhChinh", "MaTinh",
                 "HieuLucTu", "HieuLucDen")  # fmt: skip

MAX_FEE_VND = 10**10  # no procedure fee comes near ten billion dong
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
        Field("_largest_fee", pl.Float64, minimum=0, maximum=MAX_FEE_VND),
        Field("ChuHoSo", personal=True),
        Field("SoDienThoaiChuHoSo", personal=True),
        Field("EmailChuHoSo", personal=True),
        Field("SoGiayToChuHoSo", personal=True),
    ),
    natural_key=("MaHoSo", "NgayCapNhat"),
    updated_field="NgayCapNhat",
)
# Personal data never goes past the landing zone; the applicant becomes a keyed hash.
PERSONAL_FIELDS = DOSSIER_CONTRACT.personal_fields

TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


class SourceError(RuntimeError):
    """A permanent failure reading a source: names the source and what went wrong."""


def raw_ddl(dialect: str) -> str:
    json_type = "jsonb" if dialect == "postgres" else "json"
    return (
        f"create table if not exists {RAW_TABLE} (record_key varchar not null, "
        f"updated_at varchar not null, payload {json_type} not null, "
        "_run_id varchar not null, _loaded_at timestamp not null)"
    )


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


def split_records(
    records: list[object], codes: CodeLists
) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Validate a batch against the contract: (valid records in order, rejections)."""
    objects = [(i, r) for i, r in enumerate(records) if isinstance(r, dict)]
    rejections = [
        Rejection(None, "not a JSON object (a record the source could not encode as UTF-8 "
                  "JSON)", ledger.dumps(r))
        for r in records
        if not isinstance(r, dict)
    ]  # fmt: skip
    if not objects:
        return [], rejections
    names = [f.name for f in DOSSIER_CONTRACT.fields if not f.name.startswith("_")]
    frame = pl.DataFrame(
        {name: [_text(r.get(name)) for _, r in objects] for name in names}
        | {"_largest_fee": [_largest_fee(r) for _, r in objects], "_i": [i for i, _ in objects]},
        schema={name: pl.String for name in names} | {"_largest_fee": pl.Float64, "_i": pl.Int64},
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

    def pages(self, updated_since: str | None, page_size: int) -> Iterator[Page]:
        cursor: str | None = None
        while True:
            params = {"limit": str(page_size)}
            if updated_since:
                params["updated_since"] = updated_since
            if cursor:
                params["cursor"] = cursor
            body = self._get("/api/dossiers", params)
            page = Page(records=body["data"], next_cursor=body.get("next_cursor"))
            yield page
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def code_lists(self) -> CodeLists:
        catalogue = self._get("/api/procedures", {})
        return CodeLists(
            procedures=frozenset(str(p["MaTTHC"]) for p in catalogue),
            agencies=frozenset(str(a["MaDinhDanh"]) for a in self.agencies()),
        )

    def agencies(self) -> list[dict[str, str]]:
        body = self._get("/api/agencies", {})
        if not isinstance(body, list):
            raise SourceError(f"{AGENCIES_SOURCE}: GET /api/agencies did not return a list")
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


def _land(settings: Settings, run_id: str, records: list[object]) -> Path:
    """Keep the original payloads, partitioned by source and load date (append-only)."""
    directory = settings.landing_dir / f"source={SOURCE}" / f"load_date={ledger.utc_now():%Y-%m-%d}"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"run_id={run_id}.jsonl"
    with path.open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(ledger.dumps(record) + "\n")
    return path


def _load_page(
    warehouse: Warehouse,
    settings: Settings,
    run_id: str,
    records: list[object],
    codes: CodeLists,
) -> tuple[RunCounts, str | None]:
    counts = RunCounts(read=len(records))
    accepted, rejections = split_records(records, codes)
    valid: dict[tuple[str, str], dict[str, Any]] = {}
    for record in accepted:
        natural_key = (str(record["MaHoSo"]), str(record["NgayCapNhat"]))
        if natural_key in valid:
            counts.duplicate += 1
        else:
            valid[natural_key] = record
    counts.rejected = len(rejections)

    if valid:
        dossier_codes = sorted({code for code, _ in valid})
        placeholders = ", ".join("?" for _ in dossier_codes)
        seen = warehouse.fetch(
            f"select record_key, updated_at from {RAW_TABLE} where record_key in ({placeholders})",
            dossier_codes,
        )
        for natural_key in seen:
            if valid.pop((natural_key[0], natural_key[1]), None) is not None:
                counts.duplicate += 1

    key = settings.pii_key()
    new = list(valid.items())
    counts.loaded = len(new)
    if new:
        now = ledger.utc_now()
        warehouse.append(
            RAW_TABLE,
            pa.table(
                {
                    "record_key": [code for (code, _), _ in new],
                    "updated_at": [stamp for (_, stamp), _ in new],
                    "payload": [ledger.dumps(pseudonymise(r, key)) for _, r in new],
                    "_run_id": [run_id] * len(new),
                    "_loaded_at": pa.array([now] * len(new), pa.timestamp("us")),
                }
            ),
        )
    ledger.reject(warehouse, run_id, SOURCE, rejections)
    stamps = [str(r["NgayCapNhat"]) for r in accepted]
    return counts, max(stamps) if stamps else None


def ingest_dossiers(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str | None = None,
    api: ProceduresApi | None = None,
    on_page: Callable[[RunCounts], None] | None = None,
) -> IngestResult:
    """Bring the dossiers updated since the last watermark into the raw layer."""
    run_id = run_id or ledger.new_run_id()
    started = time.monotonic()
    ledger.ensure_ops_schema(warehouse)
    warehouse.execute(raw_ddl(warehouse.dialect))
    watermark = ledger.read_watermark(warehouse, SOURCE)
    result = IngestResult(SOURCE, run_id, "running", watermark_from=watermark)
    ledger.start_run(warehouse, run_id, SOURCE, watermark)
    api = api or ProceduresApi(settings.procedures_api_url, settings.http_timeout_seconds)
    try:
        codes = api.code_lists()
        for page in api.pages(watermark, settings.page_size):
            _land(settings, run_id, page.records)
            with warehouse.transaction():
                counts, page_watermark = _load_page(
                    warehouse, settings, run_id, page.records, codes
                )
                if page_watermark and (watermark is None or page_watermark > watermark):
                    watermark = page_watermark
                    ledger.write_watermark(warehouse, SOURCE, watermark)
                ledger.add_to_run(warehouse, run_id, SOURCE, counts, watermark)
            result.counts.add(counts)
            if on_page:
                on_page(counts)
    except Exception as error:
        ledger.finish_run(warehouse, run_id, SOURCE, "failed", str(error)[:1000])
        result.status = "failed"
        raise
    finally:
        api.close()
    ledger.finish_run(warehouse, run_id, SOURCE, "success")
    result.status = "success"
    result.watermark_to = watermark
    result.seconds = time.monotonic() - started
    return result


def ingest_agencies(settings: Settings, warehouse: Warehouse, run_id: str | None = None,
                    api: ProceduresApi | None = None) -> IngestResult:  # fmt: skip
    """Replace the agency directory's snapshot: electronic identifier codes and validity."""
    run_id = run_id or ledger.new_run_id()
    started = time.monotonic()
    ledger.ensure_ops_schema(warehouse)
    columns = ", ".join(f'"{name}" varchar' for name in AGENCY_FIELDS)
    warehouse.execute(
        f"create table if not exists {AGENCIES_TABLE} ({columns}, _run_id varchar not null, "
        "_loaded_at timestamp not null)"
    )
    result = IngestResult(AGENCIES_SOURCE, run_id, "running")
    ledger.start_run(warehouse, run_id, AGENCIES_SOURCE, None)
    api = api or ProceduresApi(settings.procedures_api_url, settings.http_timeout_seconds)
    try:
        records = api.agencies()
        rejections = [
            Rejection(str(r.get("MaDinhDanh")) if isinstance(r, dict) else None,
                      "missing MaDinhDanh" if isinstance(r, dict) else "not a JSON object",
                      ledger.dumps(r))
            for r in records
            if not isinstance(r, dict) or not r.get("MaDinhDanh")
        ]  # fmt: skip
        valid = [r for r in records if isinstance(r, dict) and r.get("MaDinhDanh")]
        counts = RunCounts(read=len(records), loaded=len(valid), rejected=len(rejections))
        now = ledger.utc_now()
        table = pa.table(
            {name: [str(r.get(name) or "") or None for r in valid] for name in AGENCY_FIELDS}
            | {
                "_run_id": [run_id] * len(valid),
                "_loaded_at": pa.array([now] * len(valid), pa.timestamp("us")),
            }
        )
        with warehouse.transaction():
            warehouse.execute(f"delete from {AGENCIES_TABLE}")
            warehouse.append(AGENCIES_TABLE, table)
            ledger.reject(warehouse, run_id, AGENCIES_SOURCE, rejections)
            ledger.add_to_run(warehouse, run_id, AGENCIES_SOURCE, counts, None)
        result.counts.add(counts)
    except Exception as error:
        ledger.finish_run(warehouse, run_id, AGENCIES_SOURCE, "failed", str(error)[:1000])
        result.status = "failed"
        raise
    finally:
        api.close()
    ledger.finish_run(warehouse, run_id, AGENCIES_SOURCE, "success")
    result.status = "success"
    result.seconds = time.monotonic() - started
    return result
