"""Build, check and publish: runs when any source system has new raw data.

Scheduled on the raw tables' assets (one run per batch of updates; one run at a time, and its
warehouse tasks take the writer pool's one slot, so never beside an ingestion). The quality
gate comes first: a source stale beyond the threshold declared with it (``dbt source
freshness``), or an ingestion run whose counts do not add up, stops the run; then ``dbt build``
with every test, which swaps in the readers' serving copy only when all passed. A failure
anywhere stops the run before publishing, so the portal and the dashboards keep the last good
data, and alerts the data team. Publishing and the dashboards' refresh run only after a green
build (the dashboards read the new data by themselves; the refresh applies the access policy
and a changed dashboards bundle, keeping what was changed in Superset's UI). The same steps
as ``govdata build``, ``govdata publish`` and ``govdata dashboards``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowSkipException

from dags.common import (
    START,
    WAREHOUSE_WRITER_POOL,
    GateFailure,
    any_raw_update,
    deadline,
    default_args,
    log,
    only_source_errors_retry,
    settings,
)


@dag(
    dag_id="govdata_build",
    schedule=any_raw_update(),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=default_args("warehouse"),
    deadline=deadline("govdata_build", "warehouse"),
    tags=["govdata", "warehouse", "open data"],
    doc_md=__doc__,
)
def govdata_build() -> None:
    @task(pool=WAREHOUSE_WRITER_POOL, retries=0)
    def source_freshness() -> list[str]:
        """dbt source freshness: a source stale beyond its declared threshold stops the run."""
        from govdata import pipeline

        results = only_source_errors_retry(lambda: pipeline.freshness(settings()), "warehouse")
        lines = [str(r) for r in results]
        log.info("source freshness:\n%s", "\n".join(lines))
        stale = [r for r in results if r.stale]
        if stale:
            raise GateFailure(
                "stale beyond the declared threshold: " + "; ".join(str(r) for r in stale),
                ", ".join(sorted({r.source.split(".")[0] for r in stale})),
            )
        return lines

    @task(pool=WAREHOUSE_WRITER_POOL, retries=0)
    def reconciliation() -> int:
        """Every successful ingestion run adds up: read = loaded + rejected + duplicate."""
        from govdata import pipeline

        wrong = pipeline.unreconciled_runs(settings())
        if wrong:
            raise GateFailure(
                "counts do not reconcile: " + "; ".join(wrong),
                ", ".join(sorted({w.split(" ")[0] for w in wrong})),
            )
        log.info("every ingestion run reconciles")
        return 0

    @task(pool=WAREHOUSE_WRITER_POOL, retries=0)
    def build() -> dict[str, Any]:
        """dbt build with its tests; the serving copy is swapped only when all passed."""
        from govdata import pipeline

        outcome = only_source_errors_retry(lambda: pipeline.build(settings()), "warehouse")
        summary = {
            "dbt_nodes": outcome.dbt.nodes,
            "seconds": round(outcome.seconds, 1),
            "serving_copy": str(outcome.serving_copy or ""),
        }
        log.info("dbt build: %(dbt_nodes)d nodes passed in %(seconds)s s", summary)
        return summary

    @task
    def publish() -> list[str]:
        """The declared open datasets to the CKAN portal (after a green build only)."""
        from govdata import pipeline

        run = only_source_errors_retry(lambda: pipeline.publish(settings()), "portal")
        published = [result.summary() for result in run.published]
        log.info("published %d datasets:\n%s", len(published), "\n".join(published))
        return published

    @task(retries=0)
    def refresh_dashboards() -> str:
        """Superset's access policy for the communes in force, and the dashboards bundle if it
        changed (when Superset is running). The dashboards read the new serving copy without
        any import; what was changed in Superset's UI is kept (or saved, with a warning, when
        a changed bundle overwrites it)."""
        from govdata.services import superset

        current = settings()
        if not superset.is_healthy(current):
            raise AirflowSkipException(
                f"Superset is not running at {superset.base_url(current)}: the dashboards read "
                "the new serving copy once started (`govdata dashboards`)"
            )
        done = superset.import_assets(current, ensure_admin=False)
        log.info("dashboards at %s: %s", superset.dashboard_url(current), done.summary())
        return done.summary()

    gate = [source_freshness(), reconciliation()]
    built = build()
    gate >> built
    built >> [publish(), refresh_dashboards()]


govdata_build()
