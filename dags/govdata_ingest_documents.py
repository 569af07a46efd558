"""Ingest the document management system, daily (a run reads its day's batch).

The edXML documents sent, their status messages and the register of one day
(``date=YYYY-MM-DD``); a backfill over several days loads what one run over them loads.
Updates the ``raw.documents__*`` assets, which schedules the build. The same step as
``govdata ingest``.
"""

# An Airflow DAG file (the DAG processor reads only files that say so), built by
# dags.common.ingestion_dag.
from dags.common import ingestion_dag

ingestion_dag("documents", "0 0 * * *", __doc__)
