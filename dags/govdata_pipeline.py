"""The province's daily pipeline: ingest → build → publish.

Each task calls the same function as the command line (``govdata ingest|build|publish``).
DuckDB allows a single writer per file, so every task that writes the warehouse runs in the
one-slot ``warehouse_writer`` pool; publishing only reads the serving copy.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from core.settings import load_settings

WAREHOUSE_WRITER_POOL = "warehouse_writer"


@dag(
    dag_id="govdata_pipeline",
    schedule="0 1 * * *",  # 01:00 daily, after the source systems' nightly sync
    start_date=datetime(2025, 7, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": load_settings().task_retries, "retry_delay": timedelta(minutes=5)},
    tags=["govdata", "warehouse"],
    doc_md=__doc__,
)
def govdata_pipeline() -> None:
    @task(pool=WAREHOUSE_WRITER_POOL)
    def ingest() -> list[dict[str, object]]:
        from govdata import pipeline, simulation

        with simulation.sources_for(load_settings()) as settings:
            results = pipeline.ingest(settings)
        for result in results:
            if not result.counts.reconciles:
                raise RuntimeError(f"{result.source}: counts do not reconcile: {result.counts}")
        return [{"source": r.source, "run_id": r.run_id, **asdict(r.counts)} for r in results]

    @task(pool=WAREHOUSE_WRITER_POOL)
    def build() -> dict[str, object]:
        from govdata import pipeline

        outcome = pipeline.build(load_settings())
        return {"nodes": outcome.dbt.nodes, "seconds": round(outcome.seconds, 1)}

    @task
    def publish() -> list[str]:
        from govdata import pipeline

        return [result.summary() for result in pipeline.publish(load_settings()).published]

    ingest() >> build() >> publish()


govdata_pipeline()
