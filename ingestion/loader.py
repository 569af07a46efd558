"""Loading validated batches into the raw layer, the same way on DuckDB and PostgreSQL.

A raw table keeps every version of every record (history, append-only); a view beside it,
``<table>__latest``, gives each record's newest version. A version is identified by the
source's natural key and its update time within the province whose source system sent it
(``province_code``, every raw table's first column, filled here from the session's province:
agency, dossier and document codes are unique only within a province), so reading the same
records twice — a re-run, a resumed run, a source that sends a record again — adds nothing
and counts them as duplicates.
A batch, its rejected records, its run counts and the source's watermark are committed in one
transaction: a run killed between batches loses nothing and duplicates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from core.warehouse import Warehouse
from ingestion import ledger
from ingestion.ledger import Rejection, RunCounts

SQL_TYPES = {
    pa.string(): "varchar",
    pa.large_string(): "varchar",
    pa.int64(): "bigint",
    pa.int32(): "integer",
    pa.float64(): "double precision",
    pa.bool_(): "boolean",
    pa.date32(): "date",
    pa.timestamp("us"): "timestamp",
}

# information_schema's names for those types, where they differ (PostgreSQL, DuckDB).
_TYPE_NAMES = {
    "character varying": "varchar",
    "timestamp without time zone": "timestamp",
    "double": "double precision",
}


#: Every raw table's first column: the province whose source system sent the row.
PROVINCE = "province_code"


def ensure_raw_columns(warehouse: Warehouse, table: str, columns: list[tuple[str, str]]) -> None:
    """Refuse a raw table an earlier version created with other columns (``columns``: the
    source's, between the province and the load columns), e.g. before rows were keyed by
    province: the warehouse must be rebuilt, nothing is migrated silently."""
    warehouse.execute("create schema if not exists raw")
    schema, name = table.split(".")
    described = warehouse.fetch(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, name],
    )
    existing = [(column, _TYPE_NAMES.get(kind.lower(), kind.lower())) for column, kind in described]
    expected = [(PROVINCE, "varchar"), *columns]
    expected += [("_run_id", "varchar"), ("_loaded_at", "timestamp")]
    if existing and existing != expected:
        found = ", ".join(f"{column} {kind}" for column, kind in existing)
        unkeyed = "" if existing[0][0] == PROVINCE else ", before rows were keyed by province"
        raise RuntimeError(
            f"{table} was created by an earlier version with other columns or types "
            f"({found}){unkeyed}; move it aside or start from an empty warehouse (`make clean` "
            "for the demo) and ingest again"
        )


def with_province(warehouse: Warehouse, rows: pa.Table) -> pa.Table:
    """``rows`` with the session's province as a first column (what every raw row carries)."""
    province = ledger.province_of(warehouse)
    return rows.add_column(0, PROVINCE, pa.repeat(pa.scalar(province, pa.string()), rows.num_rows))


def replace_snapshot(warehouse: Warehouse, table: str, rows: pa.Table, run_id: str) -> None:
    """Replace the session's province's rows of a reference snapshot table (the other
    provinces' stay) with ``rows``; call in a transaction."""
    province = ledger.province_of(warehouse)
    warehouse.execute(f"delete from {table} where {PROVINCE} = ?", [province])
    if rows.num_rows:
        now = ledger.utc_now()
        rows = with_province(warehouse, rows)
        rows = rows.append_column("_run_id", pa.array([run_id] * rows.num_rows, pa.string()))
        rows = rows.append_column("_loaded_at", pa.array([now] * rows.num_rows, pa.timestamp("us")))
        warehouse.append(table, rows)


def snapshot_rows(warehouse: Warehouse, table: str, columns: list[str]) -> list[tuple[object, ...]]:
    """The session's province's rows of a reference snapshot table (``columns`` of it)."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    return warehouse.fetch(
        f"select {quoted} from {table} where {PROVINCE} = ?", [ledger.province_of(warehouse)]
    )


@dataclass(frozen=True, slots=True)
class RawTable:
    """A raw table: its columns (an Arrow schema), natural key and update column."""

    name: str  # schema-qualified, e.g. raw.documents__messages
    schema: pa.Schema
    natural_key: tuple[str, ...]
    updated: str | None = None
    json_columns: tuple[str, ...] = ()  # kept as JSON (jsonb on PostgreSQL)
    # A key column whose range bounds where a batch's versions can already be (the update
    # time by default): the duplicate check searches only that range.
    bounded_by: str | None = None

    @property
    def window_column(self) -> str | None:
        return self.bounded_by or self.updated

    @property
    def key(self) -> tuple[str, ...]:
        """What identifies a version: the province, the natural key, the update time."""
        return (PROVINCE, *self.natural_key) + ((self.updated,) if self.updated else ())

    def _type(self, field: pa.Field, dialect: str) -> str:
        if field.name in self.json_columns:
            return "jsonb" if dialect == "postgres" else "json"
        return SQL_TYPES[field.type]

    def ensure(self, warehouse: Warehouse) -> None:
        columns = ", ".join(f'"{f.name}" {self._type(f, warehouse.dialect)}' for f in self.schema)
        expected = [(f.name, self._type(f, warehouse.dialect)) for f in self.schema]
        ensure_raw_columns(warehouse, self.name, expected)
        warehouse.execute(
            f"create table if not exists {self.name} ({PROVINCE} varchar not null, {columns}, "
            "_run_id varchar not null, _loaded_at timestamp not null)"
        )
        order = ", ".join(f'"{c}"' for c in (PROVINCE, *self.natural_key))
        newest = f', "{self.updated}" desc' if self.updated else ""
        warehouse.execute(
            f"create or replace view {self.name}__latest as select distinct on ({order}) * "
            f"from {self.name} order by {order}{newest}, _loaded_at desc"
        )


def load_batch(
    warehouse: Warehouse,
    run_id: str,
    source: str,
    table: RawTable,
    rows: pa.Table,
    rejections: list[Rejection],
    read: int,
    unique: bool = False,
) -> RunCounts:
    """Append the new versions in ``rows`` and keep ``rejections``; call in a transaction.
    ``unique``: the caller vouches that ``rows`` holds each version once (else the first of
    its copies is loaded)."""
    counts = RunCounts(read=read, rejected=len(rejections))
    if rows.num_rows:
        rows = with_province(warehouse, rows.select(table.schema.names).cast(table.schema))
        window = None
        if table.window_column:
            bounds = pc.min_max(rows.column(table.window_column))
            window = (bounds["min"].as_py(), bounds["max"].as_py())
        with warehouse.staged(rows, table.name) as staged:
            counts.loaded = _insert_new(warehouse, run_id, table, staged, window, not unique)
    counts.duplicate = read - counts.rejected - counts.loaded
    ledger.reject(warehouse, run_id, source, rejections)
    return counts


def _insert_new(
    warehouse: Warehouse,
    run_id: str,
    table: RawTable,
    incoming: str,
    window_bounds: tuple[object, object] | None,
    may_repeat: bool,
) -> int:
    """Insert the versions of ``incoming`` the table does not have yet; returns how many.
    ``may_repeat``: a version can occur twice in ``incoming`` (it is inserted once)."""
    names = [PROVINCE, *table.schema.names]
    columns = ", ".join(f'"{c}"' for c in names)
    key = ", ".join(f'"{c}"' for c in table.key)
    window, bounds = "", []
    if table.window_column and window_bounds and window_bounds[0] is not None:
        # A matching version has the same update time: only that range is searched.
        window, bounds = f' and r."{table.window_column}" between ? and ?', list(window_bounds)
    if warehouse.dialect == "duckdb":
        # DuckDB plans a correlated NOT EXISTS as a delim join that first copies the whole
        # batch; NOT IN over the stored keys is a hash join the batch streams through (faster:
        # bench/README.md, shared code). As with NOT EXISTS, a key with a null part never
        # matches: such stored keys are left out, such incoming ones pass.
        # Every incoming row is of the session's province: the stored rows are narrowed to it
        # and the rest of the key compared.
        within = table.key[1:]
        incoming_key = ", ".join(f'i."{c}"' for c in within)
        stored_key = ", ".join(f'r."{c}"' for c in within)
        incomplete = " or ".join(f'i."{c}" is null' for c in within)
        complete = " and ".join(f'r."{c}" is not null' for c in within)
        stored = (
            f"select ({stored_key}) from {table.name} r "
            f"where r.{PROVINCE} = ? and {complete}{window}"
        )
        new = f"({incomplete} or ({incoming_key}) not in ({stored}))"
        bounds = [ledger.province_of(warehouse), *bounds]
    else:
        match = " and ".join(f'r."{c}" = i."{c}"' for c in table.key)
        new = f"not exists (select 1 from {table.name} r where {match}{window})"
    selected = ", ".join(f'i."{c}"' for c in names)
    distinct = f"distinct on ({key}) " if may_repeat else ""
    return warehouse.execute_count(
        f"insert into {table.name} ({columns}, _run_id, _loaded_at) "
        f"select {distinct}{selected}, ?, ? from {incoming} i where {new}",
        [run_id, ledger.utc_now(), *bounds],
    )
