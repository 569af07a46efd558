"""Ingest the reporting system, daily (a run reads the periods of its days' months).

The regimes and indicators (snapshots) and the submitted reports of each period
(``period=YYYY-MM``); the latest period is read again for resubmissions. Updates the
``raw.reports__*`` assets, which schedules the build. The same step as ``govdata ingest``.
"""

# An Airflow DAG file (the DAG processor reads only files that say so), built by
# dags.common.ingestion_dag.
from dags.common import ingestion_dag

ingestion_dag("reports", "0 3 * * *", __doc__)
