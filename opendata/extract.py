"""Read a published dataset's rows from the warehouse (suppression: :mod:`opendata.privacy`).

Only the declared columns are selected; the rows come from the DuckDB serving copy (opened
read-only, never the file the pipeline writes) or, with ``GOVDATA_TARGET=postgres``, from the
PostgreSQL warehouse.
"""

from __future__ import annotations

import duckdb
import polars as pl
import psycopg

from core.errors import PublishError
from core.settings import Settings
from opendata.spec import DatasetSpec


class WarehouseError(PublishError):
    """The mart to publish cannot be read."""


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def build_query(spec: DatasetSpec, placeholder: str = "?") -> tuple[str, list[object]]:
    """The SELECT of the declared columns (and nothing else) of the dataset's model, with its
    row filter's values as parameters (``placeholder``: the driver's, ``?`` or ``%s``)."""
    columns = ", ".join(_quote(c) for c in spec.ckan.columns)
    query = f"SELECT {columns} FROM {_quote(spec.schema)}.{_quote(spec.relation)}"
    conditions, parameters = [], []
    for column, condition in spec.ckan.where.items():
        name = _quote(column)
        if isinstance(condition, list):
            conditions.append(f"{name} IN ({', '.join([placeholder] * len(condition))})")
            parameters += condition
        elif isinstance(condition, dict):
            conditions.append(f"starts_with({name}, {placeholder})")
            parameters.append(condition["starts_with"])
        else:
            conditions.append(f"{name} = {placeholder}")
            parameters.append(condition)
    if conditions:
        query += " WHERE " + " AND ".join(conditions)
    order = spec.ckan.order_by or spec.ckan.primary_key or spec.ckan.columns
    return query + " ORDER BY " + ", ".join(_quote(c) for c in order), parameters


def read_dataset(settings: Settings, spec: DatasetSpec) -> pl.DataFrame:
    if settings.target == "postgres":
        frame = _read_postgres(settings.pg_url, *build_query(spec, "%s"))
    else:
        frame = _read_duckdb(settings, *build_query(spec))
    if frame.columns != list(spec.ckan.columns):  # defensive: never more than declared
        raise WarehouseError(f"{spec.name}: query returned {frame.columns}")
    return frame


def _read_duckdb(settings: Settings, query: str, parameters: list[object]) -> pl.DataFrame:
    path = settings.serving_path
    if not path.exists():
        raise WarehouseError(
            f"no serving copy of the warehouse at {path}: build the warehouse first"
        )
    try:
        with duckdb.connect(str(path), read_only=True) as conn:
            return conn.execute(query, parameters).pl()
    except duckdb.Error as error:
        raise WarehouseError(f"{path}: {error}") from error


def _read_postgres(url: str, query: str, parameters: list[object]) -> pl.DataFrame:
    try:
        with psycopg.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(query.encode(), parameters)
            names = [d.name for d in cursor.description or []]
            rows = cursor.fetchall()
    except psycopg.Error as error:
        raise WarehouseError(f"PostgreSQL warehouse: {error}") from error
    if not rows:
        return pl.DataFrame({name: [] for name in names})
    frame = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
    # numeric columns arrive as Decimal: publish them as floating point numbers.
    return frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))
