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
from datetime import datetime
from pathlib import Path

import httpx
import pyarrow as pa

from govdata.settings import Settings
from govdata.warehouse import Warehouse
from ingestion import ledger
from ingestion.ledger import IngestResult, Rejection, RunCounts

SOURCE = "procedures.dossiers"
RAW_TABLE = "raw.procedures__dossiers"

REQUIRED_FIELDS = ("MaHoSo", "MaTTHC", "NgayTiepNhan", "TrangThaiHoSo", "NgayCapNhat")
DATE_FIELDS = ("NgayTiepNhan", "NgayHenTra", "NgayKetThucXuLy", "NgayTra", "NgayCapNhat")
STATUS_CODES = frozenset(range(1, 11))
CHANNEL_CODES = frozenset({None, 1, 2, 3})
# Personal data never goes past the landing zone; the applicant becomes a keyed hash.
PERSONAL_FIELDS = ("ChuHoSo", "SoDienThoaiChuHoSo", "EmailChuHoSo", "SoGiayToChuHoSo")

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


def validate(record: object) -> str | None:
    """Why the record breaks the contract, or None when it is valid."""
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [name for name in REQUIRED_FIELDS if record.get(name) in (None, "")]
    if missing:
        return f"missing required field(s): {', '.join(missing)}"
    for name in DATE_FIELDS:
        value = record.get(name)
        if value is None:
            continue
        try:
            datetime.strptime(str(value), "%Y%m%d%H%M%S")
        except ValueError:
            return f"{name}: {value!r} is not a yyyyMMddHHmmss date"
        if len(str(value)) != 14:
            return f"{name}: {value!r} is not a yyyyMMddHHmmss date"
    if record["TrangThaiHoSo"] not in STATUS_CODES:
        return f"TrangThaiHoSo: unknown status code {record['TrangThaiHoSo']!r}"
    if record.get("KenhThucHien") not in CHANNEL_CODES:
        return f"KenhThucHien: unknown channel {record.get('KenhThucHien')!r}"
    return None


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

    def _get(self, path: str, params: dict[str, str]) -> dict[str, object]:
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
    warehouse: Warehouse, settings: Settings, run_id: str, records: list[object]
) -> tuple[RunCounts, str | None]:
    counts = RunCounts(read=len(records))
    rejections: list[Rejection] = []
    valid: dict[tuple[str, str], dict[str, object]] = {}
    for record in records:
        reason = validate(record)
        if reason:
            key = record.get("MaHoSo") if isinstance(record, dict) else None
            rejections.append(Rejection(str(key) if key else None, reason, ledger.dumps(record)))
            continue
        assert isinstance(record, dict)
        natural_key = (str(record["MaHoSo"]), str(record["NgayCapNhat"]))
        if natural_key in valid:
            counts.duplicate += 1
        else:
            valid[natural_key] = record
    counts.rejected = len(rejections)

    if valid:
        codes = sorted({code for code, _ in valid})
        placeholders = ", ".join("?" for _ in codes)
        seen = warehouse.fetch(
            f"select record_key, updated_at from {RAW_TABLE} where record_key in ({placeholders})",
            codes,
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
    stamps = [str(r["NgayCapNhat"]) for r in records if isinstance(r, dict) and validate(r) is None]
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
        for page in api.pages(watermark, settings.page_size):
            _land(settings, run_id, page.records)
            with warehouse.transaction():
                counts, page_watermark = _load_page(warehouse, settings, run_id, page.records)
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
