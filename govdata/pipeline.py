"""The platform's steps, shared by the command line and the Airflow DAG.

sources → ingest (raw) → build (dbt: staging, intermediate, marts) → publish (CKAN) and
dashboards (Superset). Each step takes the settings and returns what it did, so the CLI can
print it and Airflow can log it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from core.errors import GovdataError
from core.settings import Settings
from core.warehouse import (
    READER_SCHEMAS,
    Warehouse,
    one_thread_per_statement,
    publish_serving_copy,
    session,
    writer_lock,
)
from ingestion import landing, ledger
from ingestion.documents import ensure_tables as ensure_document_tables
from ingestion.documents import ingest_documents
from ingestion.ledger import DayWindow, IngestResult, RunCounts
from ingestion.procedures import (
    ingest_agencies,
    ingest_catalogue,
    ingest_dossier_exports,
    ingest_dossiers,
    ingest_event_exports,
    ingest_events,
    ingest_reference_exports,
)
from ingestion.reports import ingest_reports
from ingestion.sql import ingest_sql, load_sources
from transform import spark
from transform.dbt import BuildResult, Freshness, run_dbt, source_freshness

log = logging.getLogger(__name__)


def ingest_procedures(
    settings: Settings,
    warehouse: Warehouse,
    on_page: Callable[[RunCounts], None] | None = None,
    window: DayWindow | None = None,
) -> list[IngestResult]:
    """The procedure system through its sync API (``GOVDATA_PROCEDURES_API_URL``), or from its
    JSON-lines exports (the dated ones of the ``window`` only, when given)."""
    if settings.procedures_transport == "files":
        return [
            *ingest_reference_exports(settings, warehouse),
            ingest_dossier_exports(settings, warehouse, on_page=on_page, window=window),
            ingest_event_exports(settings, warehouse, on_page=on_page, window=window),
        ]
    return [
        ingest_agencies(settings, warehouse),
        ingest_catalogue(settings, warehouse),
        ingest_dossiers(settings, warehouse, on_page=on_page),
        ingest_events(settings, warehouse, on_page=on_page),
    ]


def ingest(
    settings: Settings, on_page: Callable[[RunCounts], None] | None = None
) -> list[IngestResult]:
    """Bring every source's new records into the raw layer.

    A source system that cannot be read (a broken file, an API down) is reported as a failed
    result with its reason, and the others still load: check for ``status == "failed"``.
    Runs a killed process left ``running`` are marked interrupted first; a second ingest while
    one is writing fails at once with :class:`~core.errors.BusyError`.

    The document system is read in a thread of its own, with its own warehouse session, while
    the other systems load: each keeps the cores busy only part of the time (the documents'
    checks, the procedures' JSON parsing in DuckDB), so together they finish sooner.

    A national home (several provinces) ingests each province's sources in turn, each run
    with that province's settings (:meth:`~core.settings.Settings.for_province`), so every
    row, run and watermark carries its province.
    """
    if settings.is_national:
        settings.claim_home()
        return [r for one in provinces_of(settings) for r in ingest(one, on_page)]
    settings.claim_home()
    # Landing files hold personal data: they are kept only for the configured retention.
    landing.prune(settings)
    with (
        writer_lock(settings, "ingest"),
        session(settings) as warehouse,
        one_thread_per_statement(warehouse),
    ):
        # Shared schemas first: two sessions creating the same schema at once would conflict.
        recover(settings, warehouse)
        ensure_document_tables(warehouse)
        documents_warehouse = warehouse.sibling()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="documents")
        documents = pool.submit(
            isolated, "documents", lambda: ingest_documents(settings, documents_warehouse)
        )
        try:
            results = isolated(
                "procedures", lambda: ingest_procedures(settings, warehouse, on_page)
            )
            results += isolated("reports", lambda: ingest_reports(settings, warehouse))
            # Systems that expose a database, declared in ingestion/sources/*.yaml.
            for source in load_sources():
                results += isolated(
                    source.source_id,
                    lambda source=source: [ingest_sql(settings, warehouse, source)],
                )
        finally:
            # Never leave a writer behind: the document run ends (or fails) before we return.
            wait([documents])
            pool.shutdown()
            documents_warehouse.close()
        return _of_province(settings, _in_order(results, documents.result()))


def provinces_of(settings: Settings) -> list[Settings]:
    """Each province's settings: the one of a province's home, each of a national home's."""
    return [settings.for_province(profile.code) for profile in settings.provinces]


def recover(settings: Settings, warehouse: Warehouse) -> None:
    """Before a run, with the writer lock held: the ledger's schema, the runs a dead process
    left ``running`` marked interrupted, and the parts such runs (and failed ones) landed but
    never committed deleted (the next run reads and lands them again)."""
    ledger.ensure_ops_schema(warehouse)
    ledger.mark_interrupted(warehouse)
    days = settings.landing_retention_days
    since = ledger.utc_now() - timedelta(days=days) if days is not None else datetime.min
    discarded = landing.discard_uncommitted(settings, ledger.unfinished_runs(warehouse, since))
    if discarded:
        log.info("deleted %d landed parts no run committed", len(discarded))


def _in_order(others: list[IngestResult], documents: list[IngestResult]) -> list[IngestResult]:
    """Procedures first, then documents, then the rest: the order the sources are printed in."""
    procedures = [r for r in others if r.source.startswith("procedures")]
    return procedures + documents + [r for r in others if not r.source.startswith("procedures")]


def isolated(system: str, action: Callable[[], list[IngestResult]]) -> list[IngestResult]:
    """``action``'s results, or one failed result naming why: one system that cannot be read
    does not keep the others from loading (a bug still raises, with its traceback)."""
    try:
        return action()
    except GovdataError as error:
        failed = IngestResult(system, "", "failed", message=str(error).splitlines()[0])
        return [failed]


def failures(results: list[IngestResult]) -> list[IngestResult]:
    return [r for r in results if r.status == "failed"]


#: The source systems, each ingested on its own schedule by the orchestrator (dags/).
SYSTEMS = ("procedures", "documents", "reports", "databases")


def ingest_system(
    settings: Settings,
    system: str,
    window: DayWindow | None = None,
    on_page: Callable[[RunCounts], None] | None = None,
) -> list[IngestResult]:
    """Bring one source system's new records into the raw layer (what one ingestion DAG does;
    :func:`ingest` does them all at once). ``window``: the days of dated files to read."""
    if system not in SYSTEMS:
        raise ValueError(f"unknown source system {system!r}: expected one of {SYSTEMS}")
    if settings.is_national:
        settings.claim_home()
        return [
            r for one in provinces_of(settings) for r in ingest_system(one, system, window, on_page)
        ]
    settings.claim_home()
    landing.prune(settings)
    with (
        writer_lock(settings, f"ingest {system}"),
        session(settings) as warehouse,
        one_thread_per_statement(warehouse),
    ):
        recover(settings, warehouse)
        if system == "procedures":
            results = ingest_procedures(settings, warehouse, on_page, window)
        elif system == "documents":
            ensure_document_tables(warehouse)
            results = ingest_documents(settings, warehouse, window=window)
        elif system == "reports":
            results = ingest_reports(settings, warehouse, window=window)
        else:
            results = [ingest_sql(settings, warehouse, source) for source in load_sources()]
        return _of_province(settings, results)


def _of_province(settings: Settings, results: list[IngestResult]) -> list[IngestResult]:
    """``results`` marked with the province whose sources they read."""
    for result in results:
        result.province_code = settings.province_code
    return results


def unreconciled_runs(settings: Settings) -> list[str]:
    """Successful ingestion runs whose counts do not add up (read ≠ loaded + rejected +
    duplicate): nothing built on them may be published."""
    with session(settings) as warehouse:
        ledger.ensure_ops_schema(warehouse)
        rows = warehouse.fetch(
            "select province_code, source, run_id, rows_read, rows_loaded, rows_rejected, "
            "rows_duplicate from ops.ingest_runs where status = 'success' "
            "and rows_read <> rows_loaded + rows_rejected + rows_duplicate order by started_at"
        )
    return [
        f"{source} (province {province}) run {run_id}: read {read} ≠ loaded {loaded} "
        f"+ rejected {rejected} + duplicate {duplicate}"
        for province, source, run_id, read, loaded, rejected, duplicate in rows
    ]


def freshness(settings: Settings) -> list[Freshness]:
    """Each source table's freshness against its declared threshold (dbt source freshness)."""
    return source_freshness(settings)


@dataclass(frozen=True, slots=True)
class BuildOutcome:
    dbt: BuildResult
    serving_copy: Path | None
    seconds: float


def build(settings: Settings) -> BuildOutcome:
    """Build and test every dbt model, then refresh the serving copy readers use."""
    started = time.monotonic()
    with writer_lock(settings, "build"):
        result = run_dbt(settings, "build")
        if settings.target == "spark":
            serving_copy: Path | None = spark.publish_serving_copy(settings, READER_SCHEMAS)
        else:
            serving_copy = publish_serving_copy(settings)
    return BuildOutcome(result, serving_copy, time.monotonic() - started)


def publish(settings: Settings, prune: bool = False) -> Any:
    """Publish the declared open datasets to the CKAN portal (an ``opendata.publish.PublishRun``);
    raises ``PublishIncomplete`` naming what was not published."""
    from opendata.publish import publish_run

    return publish_run(settings, prune=prune)


def package(settings: Settings, directory: Path) -> Path:
    """Write the declared open datasets as a Frictionless Data Package; return its descriptor."""
    from opendata.package import write_package

    return write_package(settings, directory)


def dashboards(
    settings: Settings, reimport: bool = False, reset_admin_password: bool = False
) -> str:
    """Start (or refresh) Superset with the dashboards as code; returns the dashboard URL.

    What was changed in Superset's UI is kept (see govdata.services.superset.import_assets);
    ``reimport`` imports the bundle even when unchanged, ``reset_admin_password`` sets the
    admin's password from the settings.
    """
    from govdata.services import superset

    return superset.deploy(settings, reimport=reimport, reset_admin_password=reset_admin_password)
