"""Benchmark: ``dbt build`` (every model and test) at scale 1 on DuckDB, PostgreSQL and Spark.

Target on the 2-core reference machine (issue 5): at most 60 s on DuckDB.

    .venv/bin/python bench/dbt_build.py [--home DIR] [--scale 1] [--targets duckdb,postgres,spark]

``--home`` reuses a GOVDATA_HOME whose DuckDB warehouse already holds the ingested raw layer
(e.g. the ``home`` that ``bench/ingest.py`` reports); otherwise one province-year is simulated and
ingested first (not timed). PostgreSQL gets the same raw layer, copied table by table through
Arrow and ``COPY``, so both engines build from identical data. Spark (dbt-spark's session
mode, local[2]) reads the same raw layer exported as Parquet: the export is timed apart, then
the build (which exports again, as every spark build does). Prints one JSON document and
appends it to bench/results/dbt_build.jsonl.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa

from core.settings import Settings
from core.warehouse import PostgresWarehouse, ensure_postgres_database
from govdata.pipeline import ingest
from simulator.generate import simulate
from transform.dbt import run_dbt
from transform.spark import export_sources, stop_session

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
BATCH_ROWS = 500_000


def timed_build(settings: Settings) -> tuple[float, int]:
    started = time.monotonic()
    result = run_dbt(settings, "build")
    if result.failures:
        raise SystemExit(f"dbt build failed on {settings.target}: {result.failures}")
    return round(time.monotonic() - started, 1), result.nodes


def copy_raw_layer(duckdb_file: Path, pg_url: str) -> dict[str, int]:
    """Every table of the raw and ops schemas, same columns, into PostgreSQL."""
    ensure_postgres_database(pg_url)
    source = duckdb.connect(str(duckdb_file))  # as dbt opened it (in this process)
    target = PostgresWarehouse(pg_url)
    copied = {}
    tables = source.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in ('raw', 'ops') and table_type = 'BASE TABLE'"
    ).fetchall()
    for schema, name in tables:
        columns = source.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        ).fetchall()
        types = {"JSON": "jsonb", "VARCHAR": "varchar", "DOUBLE": "double precision"}
        ddl = ", ".join(f'"{c}" {types.get(t, t.lower())}' for c, t in columns)
        target.execute(f"create schema if not exists {schema}")
        target.execute(f'drop table if exists {schema}."{name}" cascade')
        target.execute(f'create table {schema}."{name}" ({ddl})')
        reader = source.execute(f'select * from {schema}."{name}"').to_arrow_reader(BATCH_ROWS)
        rows = 0
        for batch in reader:
            target.append(f'{schema}."{name}"', pa.Table.from_batches([batch]))
            rows += batch.num_rows
        copied[f"{schema}.{name}"] = rows
    target.close()
    source.close()
    return copied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--targets", default="duckdb,postgres", help="any of duckdb,postgres,spark")
    args = parser.parse_args()
    home = args.home
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="govdata-bench-dbt-")) / "home"
        simulate(home / "sources", scale=args.scale, seed=1, start=date(2025, 7, 1),
                 end=date(2026, 6, 30))  # fmt: skip
        ingest(Settings(home=home, target="duckdb", procedures_transport="files"))
    report: dict[str, object] = {
        "benchmark": "dbt_build",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "targets": {"duckdb_seconds": 60},
    }
    duck = Settings(home=home, target="duckdb")
    with duckdb.connect(str(duck.warehouse_path)) as connection:
        report["raw_rows"] = dict(
            connection.execute(
                "select table_name, estimated_size from duckdb_tables() where schema_name = 'raw'"
            ).fetchall()
        )
    if "duckdb" in args.targets:
        report["duckdb_seconds"], report["nodes"] = timed_build(duck)
    if "postgres" in args.targets:
        name = f"govdata_bench_{uuid.uuid4().hex[:8]}"
        pg_url = f"{PG_SERVER}/{name}"
        try:
            started = time.monotonic()
            copy_raw_layer(duck.warehouse_path, pg_url)
            report["postgres_copy_seconds"] = round(time.monotonic() - started, 1)
            pg = Settings(home=home / "pg", target="postgres", pg_url=pg_url)
            report["postgres_seconds"], _ = timed_build(pg)
        finally:
            with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
                admin.execute(f'drop database if exists "{name}" with (force)')
    if "spark" in args.targets:
        # The same home: the spark target reads raw and ops from its DuckDB file.
        spark = Settings(home=home, target="spark")
        started = time.monotonic()
        export_sources(spark)
        report["spark_export_seconds"] = round(time.monotonic() - started, 1)
        try:
            report["spark_seconds"], _ = timed_build(spark)
        finally:
            stop_session()
    print(json.dumps(report, indent=2, ensure_ascii=False))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    with (out / "dbt_build.jsonl").open("a") as handle:
        handle.write(json.dumps(report, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
