"""What the platform's DAGs share: the raw tables' assets, the run's window, alerts, retries.

Not a DAG file (``.airflowignore``). It imports only Airflow's SDK and the settings, so that
every DAG file parses in a fraction of a second; the steps' modules (polars, DuckDB, dbt) are
imported inside the tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from functools import reduce
from typing import Any
from zoneinfo import ZoneInfo

from airflow.sdk import Asset, Param
from airflow.sdk.exceptions import AirflowFailException

from core.errors import SourceError
from core.settings import Settings, load_settings

log = logging.getLogger(__name__)

#: The schedules run on Vietnam's clock: a daily run covers one local day's files.
LOCAL_ZONE = "Asia/Ho_Chi_Minh"
LOCAL = ZoneInfo(LOCAL_ZONE)
START = datetime(2025, 7, 1, tzinfo=LOCAL)  # the merged provinces' first day

#: The one-slot pool every task that writes the warehouse runs in (DuckDB: one writer);
#: created by govdata.services.airflow at start.
WAREHOUSE_WRITER_POOL = "warehouse_writer"

#: The raw tables each source system's ingestion updates (tests/test_airflow.py checks them
#: against the connectors).
RAW_TABLES = {
    "procedures": (
        "raw.procedures__agencies",
        "raw.procedures__catalogue",
        "raw.procedures__dossiers",
        "raw.procedures__events",
    ),
    "documents": (
        "raw.documents__register",
        "raw.documents__messages",
        "raw.documents__receivers",
        "raw.documents__status",
    ),
    "reports": ("raw.reports__regimes", "raw.reports__indicators", "raw.reports__submissions"),
}


#: Sources read whole at every run (reference snapshots): loading them is no news by itself.
SNAPSHOTS = frozenset(
    {"procedures.agencies", "procedures.catalogue", "reports.regimes", "reports.indicators"}
)
#: Ingestion goes before the build in the writer pool: a build waits for the updates queued.
INGEST_PRIORITY = 10


def raw_asset(table: str) -> Asset:
    """The Airflow asset of a raw table of the warehouse."""
    return Asset(name=table, uri=f"govdata://warehouse/{table.replace('.', '/')}", group="raw")


def system_assets(system: str) -> list[Asset]:
    return [raw_asset(table) for table in RAW_TABLES[system]]


def any_raw_update() -> Any:
    """The build's schedule: any raw table updated (one run per batch of updates)."""
    assets = [raw_asset(t) for tables in RAW_TABLES.values() for t in tables]
    return reduce(lambda left, right: left | right, assets)


class GateFailure(AirflowFailException):
    """A failure retrying cannot mend (a stale source, counts that do not add up, a failing
    dbt test): the run stops here, without retries; ``source`` goes into the alert."""

    def __init__(self, reason: str, source: str) -> None:
        super().__init__(reason)
        self.source = source


def settings() -> Settings:
    """The same settings as the command line (GOVDATA_* and the repository's .env)."""
    return load_settings()


def default_args(source: str) -> dict[str, Any]:
    """Retries with exponential backoff (for source errors; the tasks turn other errors into
    failures without retries) and an alert naming ``source`` when a task finally fails."""
    current = settings()
    return {
        "retries": current.task_retries,
        "retry_delay": timedelta(seconds=current.task_retry_delay_seconds),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(hours=1),
        "on_failure_callback": alert_on_failure(source),
    }


def deadline(dag_id: str, source: str) -> Any:
    """A run not finished ``GOVDATA_RUN_DEADLINE_MINUTES`` after it was queued is late: the
    data team is told (govdata.alerts.late_run, run by the executor)."""
    from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback

    minutes = settings().run_deadline_minutes
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(minutes=minutes),
        callback=SyncCallback(
            "govdata.alerts.late_run",
            kwargs={"dag_id": dag_id, "source": source, "minutes": minutes},
        ),
    )


def only_source_errors_retry(step: Callable[[], Any], source: str) -> Any:
    """Run a step: a SourceError (a source that could not be read) is retried by Airflow;
    any other failure of the platform fails the task at once, naming the source."""
    from core.errors import GovdataError

    try:
        return step()
    except SourceError:
        raise
    except GovdataError as error:
        raise GateFailure(str(error), source) from error


def run_params() -> dict[str, Param]:
    """A manual run may name the days it reads (a backfill's runs get their data interval)."""
    return {
        "first_day": Param(None, type=["null", "string"], format="date",
                           description="First day of dated files to read (manual runs)."),
        "last_day": Param(None, type=["null", "string"], format="date",
                          description="Last day of dated files to read (manual runs)."),
    }  # fmt: skip


def run_window(context: dict[str, Any]) -> tuple[date, date] | None:
    """The days a run reads from sources of dated files.

    A scheduled or backfill run reads its data interval (the days it covers, its end
    excluded); a manual run reads the days its ``first_day``/``last_day`` name, else everything
    after the watermark (the catch-up a person asks for).
    """
    params = context.get("params") or {}
    if params.get("first_day") or params.get("last_day"):
        first = date.fromisoformat(params.get("first_day") or params["last_day"])
        last = date.fromisoformat(params.get("last_day") or params["first_day"])
        return first, last
    run_type = getattr(context.get("dag_run"), "run_type", None)
    run_type = str(getattr(run_type, "value", run_type) or "").lower()
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if run_type in ("scheduled", "backfill") and start is not None and end is not None:
        first = start.astimezone(LOCAL).date()
        last = (end - timedelta(microseconds=1)).astimezone(LOCAL).date()
        return first, max(first, last)
    return None


def alert_on_failure(default_source: str) -> Callable[[dict[str, Any]], None]:
    def callback(context: dict[str, Any]) -> None:
        from govdata import alerts
        from govdata.services.airflow import base_url

        error = context.get("exception")
        ti = context.get("ti") or context.get("task_instance")
        dag_id = str(getattr(ti, "dag_id", ""))
        run_id = str(getattr(ti, "run_id", ""))
        current = settings()
        alert = alerts.Alert(
            kind="failed",
            dag_id=dag_id,
            task_id=str(getattr(ti, "task_id", "")),
            source=str(getattr(error, "source", None) or default_source),
            reason=str(error) if error is not None else "the task failed (see its log)",
            run_id=run_id,
            url=f"{base_url(current)}/dags/{dag_id}/runs/{run_id}",
        )
        alerts.send(current, alert)

    return callback


def counts_table(results: Iterable[dict[str, Any]]) -> str:
    """The counts of a run, as the task log shows them (and the XCom holds them)."""
    lines = [f"{'source':<28} {'read':>10} {'loaded':>10} {'rejected':>9} {'duplicate':>9}"]
    for r in results:
        lines.append(
            f"{r['source']:<28} {r['read']:>10,} {r['loaded']:>10,} {r['rejected']:>9,} "
            f"{r['duplicate']:>9,}"
        )
    return "\n".join(lines)


def ingestion_dag(system: str, schedule: str, doc: str) -> Any:
    """The DAG that brings one source system's new records into the raw layer.

    ``ingest`` (in the writer pool) reads the system through the same function as
    ``govdata ingest``, logs and returns its counts per source (read / loaded / rejected /
    duplicate) and fails when they do not add up; ``announce`` updates the system's raw-table
    assets, which schedules the build, only when something was loaded.
    """
    from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task
    from airflow.sdk.exceptions import AirflowSkipException

    outlets = system_assets(system)

    @dag(
        dag_id=f"govdata_ingest_{system}",
        # Each run covers a data interval (the days a run reads from dated files).
        schedule=CronDataIntervalTimetable(schedule, timezone=LOCAL_ZONE),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=default_args(system),
        params=run_params(),
        deadline=deadline(f"govdata_ingest_{system}", system),
        tags=["govdata", "ingestion", system],
        doc_md=doc,
    )
    def ingestion() -> None:
        @task(pool=WAREHOUSE_WRITER_POOL, priority_weight=INGEST_PRIORITY, weight_rule="absolute")
        def ingest() -> list[dict[str, Any]]:
            from dataclasses import asdict

            from govdata import pipeline, simulation
            from ingestion.ledger import DayWindow

            context: dict[str, Any] = dict(get_current_context())
            days = run_window(context)
            window = DayWindow(*days) if days else None
            log.info("%s: reading %s", system, f"the days {window}" if window else "all new")

            def step() -> list[Any]:
                current = settings()
                if system == "procedures":
                    with simulation.sources_for(current) as reading:
                        return pipeline.ingest_system(reading, system, window)
                return pipeline.ingest_system(current, system, window)

            results = only_source_errors_retry(step, system)
            rows = [
                {"source": r.source, "run_id": r.run_id, "watermark": r.watermark_to,
                 **asdict(r.counts)}
                for r in results
            ]  # fmt: skip
            log.info("%s counts:\n%s", system, counts_table(rows))
            wrong = [r for r in results if not r.counts.reconciles]
            if wrong:
                raise GateFailure(
                    "counts do not reconcile (read ≠ loaded + rejected + duplicate): "
                    + "; ".join(f"{r.source} {r.counts}" for r in wrong),
                    ", ".join(r.source for r in wrong),
                )
            return rows

        @task(outlets=outlets)
        def announce(rows: list[dict[str, Any]]) -> dict[str, int]:
            loaded = {r["source"]: int(r["loaded"]) for r in rows}
            if not any(n for source, n in loaded.items() if source not in SNAPSHOTS):
                raise AirflowSkipException(f"{system}: nothing new loaded, no asset update")
            context = get_current_context()
            for asset in outlets:
                context["outlet_events"][asset].extra = {"system": system, "loaded": loaded}
            return loaded

        announce(ingest())

    return ingestion()
