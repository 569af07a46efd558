"""Reference snapshots (the agency directory and the procedure catalogue), the province's rows
replaced whole each run, from the API or from the files beside the exports."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable

import duckdb
import orjson
import polars as pl
import pyarrow as pa

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import Warehouse
from ingestion import ledger
from ingestion.contract import Contract
from ingestion.ledger import IngestResult, Rejection, RunCounts
from ingestion.loader import PROVINCE, ensure_raw_columns, replace_snapshot
from ingestion.procedures.api import ProceduresApi
from ingestion.procedures.checks import parse_records, rejections_of
from ingestion.procedures.contracts import (
    AGENCIES_SOURCE,
    AGENCIES_TABLE,
    AGENCY_CONTRACT,
    CATALOGUE_CONTRACT,
    CATALOGUE_SOURCE,
    CATALOGUE_TABLE,
)


def _snapshot_split(records: list[object], contract: Contract) -> tuple[pa.Table, list[Rejection]]:
    """Validate a reference snapshot: (valid rows, empty text as null; rejections)."""
    lines = pa.array([orjson.dumps(r) for r in records], pa.large_binary())
    with duckdb.connect() as engine:
        _, records, problems = parse_records(engine, lines, contract)
    valid, rejected = contract.split(records)
    names = list(contract.stored_fields)
    problems += list(rejected.select("_i", "_reason", names[0]).iter_rows())
    rows = valid.select(pl.when(pl.col(n) != "").then(pl.col(n)).alias(n) for n in names)
    return rows.to_arrow().cast(contract.raw_schema), rejections_of(lines, None, problems)


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
    ensure_raw_columns(warehouse, table, [(name, "varchar") for name in names])
    warehouse.execute(
        f"create table if not exists {table} ({PROVINCE} varchar not null, {columns}, "
        "_run_id varchar not null, _loaded_at timestamp not null)"
    )
    result = IngestResult(contract.source, run_id, "running")
    ledger.start_run(warehouse, run_id, contract.source, None)
    try:
        records = fetch()
        rows, rejections = _snapshot_split(records, contract)
        counts = RunCounts(read=len(records), loaded=rows.num_rows, rejected=len(rejections))
        with warehouse.transaction():
            replace_snapshot(warehouse, table, rows, run_id)
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
