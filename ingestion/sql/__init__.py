"""Generic connector for a provincial system that exposes a SQL database (through SQLAlchemy).

Some systems offer neither an API nor file exports, only read access to their database. A
source is declared in a small YAML file under ``ingestion/sources/`` (one file per source,
``SqlSource`` in code): the table or query to read, its natural key, its update column and the
contract of its columns — type, required, pattern, allowed codes, range, and whether a column
is personal (replaced by a keyed hash, or dropped). The connection URL is never written in a
file: the source names an environment variable (``GOVDATA_SQL_<NAME>_URL`` by default) that
holds a SQLAlchemy URL such as ``postgresql+psycopg://reader@host/db`` or
``mysql+pymysql://reader@host/db?charset=utf8mb4``. Give the platform a read-only account.

A run reads the rows whose update column is at or after the source's watermark, ordered by
(update column, natural key), in batches with keyset pagination: each batch is one short
query (``... and (updated, key) > (last read) order by updated, key limit n``, read with a
server-side cursor), so no long transaction holds the operational database, and an index on
(update column, natural key) makes every batch cheap. Each batch is landed as read (Parquet),
validated against the contract with polars, has its personal columns pseudonymised, and is
loaded with :func:`ingestion.loader.load_batch` into ``raw.sql__<name>`` — committed with its
rejected records, run counts and the watermark in one warehouse transaction.

The watermark is inclusive and versions are deduplicated by natural key and update time, so a
re-run or a run resumed after a crash loads nothing twice; a rejected record read again is
counted as a duplicate, not rejected twice. Transient database errors (a refused connection, a
dropped one) are retried with backoff; a permanent one fails the run with a message naming the
source and, when a record is the cause, where it is.

Rows whose natural key or update column is null cannot be paginated on: they are read in a
separate pass and rejected with their reason (rows with a null update column only on the
first run, since they can never be read incrementally; use a query with
``coalesce(updated_at, created_at)`` as the update column when a source has such rows).

The modules: :mod:`~ingestion.sql.definitions` (a source and its YAML form),
:mod:`~ingestion.sql.conversion` (values as the raw table's types),
:mod:`~ingestion.sql.reading` (the keyset-paginated reader), :mod:`~ingestion.sql.batches` (a
batch checked) and :mod:`~ingestion.sql.run`.
"""

from __future__ import annotations

from ingestion.sql.conversion import convert, kind_of
from ingestion.sql.definitions import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_TIMEZONE,
    SOURCES_DIR,
    Column,
    Kind,
    SqlSource,
    load_source,
    load_sources,
    source_from_mapping,
)
from ingestion.sql.reading import engine_for
from ingestion.sql.run import ingest_sql

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_TIMEZONE",
    "SOURCES_DIR",
    "Column",
    "Kind",
    "SqlSource",
    "convert",
    "engine_for",
    "ingest_sql",
    "kind_of",
    "load_source",
    "load_sources",
    "source_from_mapping",
]
