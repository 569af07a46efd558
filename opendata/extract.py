"""Read a published dataset's rows from the warehouse, then suppress small counts.

Only the declared columns are selected; the rows come from the DuckDB serving copy (opened
read-only, never the file the pipeline writes) or, with ``GOVDATA_TARGET=postgres``, from the
PostgreSQL warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl
import psycopg

from core.errors import PublishError
from core.settings import Settings
from opendata.spec import DatasetSpec, SpecError, Suppression


class WarehouseError(PublishError):
    """The mart to publish cannot be read."""


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def build_query(spec: DatasetSpec) -> str:
    """The SELECT of the declared columns (and nothing else) of the dataset's model."""
    columns = ", ".join(_quote(c) for c in spec.ckan.columns)
    query = f"SELECT {columns} FROM {_quote(spec.schema)}.{_quote(spec.relation)}"
    if spec.ckan.where:
        query += f" WHERE ({spec.ckan.where})"
    order = spec.ckan.order_by or spec.ckan.primary_key or spec.ckan.columns
    return query + " ORDER BY " + ", ".join(_quote(c) for c in order)


def read_dataset(settings: Settings, spec: DatasetSpec) -> pl.DataFrame:
    query = build_query(spec)
    if settings.target == "postgres":
        frame = _read_postgres(settings.pg_url, query)
    else:
        frame = _read_duckdb(settings, query)
    if frame.columns != list(spec.ckan.columns):  # defensive: never more than declared
        raise WarehouseError(f"{spec.name}: query returned {frame.columns}")
    return frame


def _read_duckdb(settings: Settings, query: str) -> pl.DataFrame:
    path = settings.serving_path
    if not path.exists():
        raise WarehouseError(
            f"no serving copy of the warehouse at {path}: build the warehouse first"
        )
    try:
        with duckdb.connect(str(path), read_only=True) as conn:
            return conn.execute(query).pl()
    except duckdb.Error as error:
        raise WarehouseError(f"{path}: {error}") from error


def _read_postgres(url: str, query: str) -> pl.DataFrame:
    try:
        with psycopg.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute("SET TRANSACTION READ ONLY")
            cursor.execute(query.encode())
            names = [d.name for d in cursor.description or []]
            rows = cursor.fetchall()
    except psycopg.Error as error:
        raise WarehouseError(f"PostgreSQL warehouse: {error}") from error
    if not rows:
        return pl.DataFrame({name: [] for name in names})
    frame = pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)
    # numeric columns arrive as Decimal: publish them as floating point numbers.
    return frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))


@dataclass(frozen=True)
class Suppressed:
    frame: pl.DataFrame
    cells: int  # cells set to null (counts and their dependants)
    rows: int  # rows with at least one suppressed cell


def suppress_small_counts(
    frame: pl.DataFrame, rule: Suppression | None, min_count: int
) -> Suppressed:
    """Null every count below ``min_count`` (zero kept unless ``rule.zero``) and, in the same
    row, every dependent column (a rate computed from the hidden count)."""
    if rule is None or min_count <= 0 or frame.is_empty():
        return Suppressed(frame, 0, 0)
    for name in rule.count_columns:
        # Counts restated on today's units can be fractional (a split commune's share).
        if not frame.schema[name].is_numeric():
            raise SpecError(
                f"suppress.count_columns: {name!r} is {frame.schema[name]}, not a count"
            )
    lowest = 0 if rule.zero else 1
    small = [
        pl.col(c).is_not_null() & (pl.col(c) >= lowest) & (pl.col(c) < min_count)
        for c in rule.count_columns
    ]
    row_hidden = pl.any_horizontal(small)
    flags = frame.select(
        [s.alias(f"__small_{c}") for c, s in zip(rule.count_columns, small, strict=True)]
        + [row_hidden.alias("__row")]
        + [
            (row_hidden & pl.col(c).is_not_null()).alias(f"__dep_{c}")
            for c in rule.dependent_columns
        ]
    )
    cells = sum(int(flags[f"__small_{c}"].sum()) for c in rule.count_columns) + sum(
        int(flags[f"__dep_{c}"].sum()) for c in rule.dependent_columns
    )
    out = frame.with_columns(
        [
            pl.when(s).then(None).otherwise(pl.col(c)).alias(c)
            for c, s in zip(rule.count_columns, small, strict=True)
        ]
        + [
            pl.when(row_hidden).then(None).otherwise(pl.col(c)).alias(c)
            for c in rule.dependent_columns
        ]
    )
    return Suppressed(out, cells, int(flags["__row"].sum()))
