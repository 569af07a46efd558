"""The spark target's two hand-offs with the embedded warehouse.

Ingestion keeps writing the raw layer and the ``ops`` ledger into the DuckDB file, in its own
transactions (a Spark table has none to offer a resumable, exactly-once load). Before a build
on Spark, :func:`export_sources` writes those tables as Parquet under ``spark_dir/sources``,
which the dbt project's on-run-start hook catalogues as Spark tables
(``dbt_project/macros/spark_sources.sql``). The models are written as Parquet tables under
``spark_dir/warehouse``; after the build, :func:`spark_marts` hands the marts back as Arrow
tables for the readers' DuckDB copy, so Superset and the publisher read the same file whichever
engine built it. The landing zone's Parquet is not read: it keeps the original payloads, with
the personal data that ingestion replaces by a keyed hash, and the records the contracts
rejected.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import duckdb

from core.errors import BuildError
from core.settings import Settings
from core.warehouse import session

#: The schemas the models read as sources (dbt_project/models/staging/_*__sources.yml).
SOURCE_SCHEMAS = ("raw", "ops")
#: Columns that stay in DuckDB: a rejected record's payload and key may hold personal data,
#: and no model selects them (stg_ops__rejected_records).
KEPT_BACK = {("ops", "rejected_records"): {"payload", "record_key"}}


def export_sources(settings: Settings, tables: tuple[str, ...] | None = None) -> dict[str, int]:
    """Write every base table of the raw and ops schemas (or only ``tables``, e.g.
    ``("ops.build_results",)``) as Parquet, one directory per table, replacing the previous
    export; returns the rows written per table. JSON columns are written as text."""
    root = settings.spark_dir / "sources"
    written: dict[str, int] = {}
    with session(settings) as warehouse:
        found = warehouse.fetch(
            "select table_schema, table_name from information_schema.tables where "
            "table_catalog = current_database() and table_type = 'BASE TABLE' and "
            f"table_schema in ({', '.join('?' for _ in SOURCE_SCHEMAS)}) order by 1, 2",
            list(SOURCE_SCHEMAS),
        )
        for schema, table in found:
            name = f"{schema}.{table}"
            if tables is not None and name not in tables:
                continue
            columns = warehouse.fetch(
                "select column_name, data_type from information_schema.columns where "
                "table_catalog = current_database() and table_schema = ? and table_name = ? "
                "order by ordinal_position",
                [schema, table],
            )
            kept_back = KEPT_BACK.get((schema, table), set())
            select = ", ".join(
                f'cast("{column}" as varchar) as "{column}"' if kind == "JSON" else f'"{column}"'
                for column, kind in columns
                if column not in kept_back
            )
            directory = root / schema / table
            staging = directory.with_name(f".{table}.tmp")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            target = str(staging / "part-0.parquet").replace("'", "''")
            warehouse.execute(
                f"copy (select {select} from {schema}.\"{table}\") to '{target}' "
                "(format parquet, compression zstd)"
            )
            # Swapped in whole: a build never reads half an export.
            shutil.rmtree(directory, ignore_errors=True)
            os.replace(staging, directory)
            written[name] = int(warehouse.fetch(f'select count(*) from {schema}."{table}"')[0][0])
    return written


def active_session() -> Any:
    """The SparkSession dbt-spark's session mode opened in this process, or None. (Not
    ``getActiveSession``: that is per thread, and dbt ran its statements in worker threads.)"""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is None:
        return None
    return SparkSession.builder.getOrCreate()  # the running context's default session


def stop_session() -> None:
    """Stop this process's Spark session, if any (the next build starts another)."""
    spark = active_session()
    if spark is not None:
        spark.stop()


def fetch(sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query in the build's Spark session, as tuples of Python values."""
    spark = active_session()
    if spark is None:
        raise BuildError("no Spark session in this process: build on the spark target first")
    return [tuple(row) for row in spark.sql(sql).collect()]


def publish_serving_copy(settings: Settings, schemas: tuple[str, ...]) -> Path:
    """The readers' DuckDB copy (``settings.serving_path``) made from the Spark build's tables
    and views of ``schemas``, swapped in whole like the DuckDB target's
    (core.warehouse.publish_serving_copy)."""
    spark = active_session()
    if spark is None:
        raise BuildError("no Spark session in this process: build on the spark target first")
    target = settings.serving_path
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".duckdb.tmp")
    staging.unlink(missing_ok=True)
    with duckdb.connect(str(staging)) as copy:
        for schema in schemas:
            copy.execute(f'create schema if not exists "{schema}"')
            for row in spark.sql(f"show tables in {schema}").collect():
                if row.isTemporary:
                    continue
                name = f"{schema}.{row.tableName}"
                spark.catalog.refreshTable(name)  # the ops exports are replaced after builds
                rows = spark.table(name).toArrow()
                copy.register("incoming", rows)
                copy.execute(f'create table "{schema}"."{row.tableName}" as from incoming')
                copy.unregister("incoming")
    os.replace(staging, target)
    return target
