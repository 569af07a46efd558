"""Ingest the administrative-procedure system, every hour.

Dossier versions and progress events since the last watermark, from the system's sync API (or
its JSON-lines exports: a dated export is read in the run of its day), with the agency
directory and the procedure catalogue. Updates the ``raw.procedures__*`` assets, which
schedules the build. The same step as ``govdata ingest``.
"""

# An Airflow DAG file (the DAG processor reads only files that say so), built by
# dags.common.ingestion_dag.
from dags.common import ingestion_dag

ingestion_dag("procedures", "15 * * * *", __doc__)
