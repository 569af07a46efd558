"""One way to reach the warehouse, whichever engine holds it.

DuckDB is embedded (a single file under ``GOVDATA_HOME``); PostgreSQL is the served option.
Both are written through Arrow: DuckDB scans an Arrow table in place, PostgreSQL receives it
with ``COPY``, so loads stay fast on either.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from core.settings import Settings


class Warehouse(Protocol):
    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run an insert, update or delete; returns the number of rows it changed."""
        ...

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def append(self, table: str, data: pa.Table) -> None: ...

    def staged(self, data: pa.Table, like: str) -> AbstractContextManager[str]:
        """``data`` as a relation queries can read (its name), for the duration of the block;
        ``like`` names a table whose column types the relation takes."""
        ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def sibling(self) -> Warehouse:
        """Another session on the same database, for another thread to write through at the
        same time (its own transactions); close it when done."""
        ...

    def close(self) -> None: ...


class DuckDBWarehouse:
    dialect = "duckdb"

    def __init__(
        self,
        path: Path,
        read_only: bool = False,
        connection: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        self.path, self.read_only = path, read_only
        if connection is not None:  # a sibling: the same database instance (see sibling())
            self.connection = connection
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = duckdb.connect(str(path), read_only=read_only)
        if not read_only:
            # Ingestion commits once per batch; checkpointing at each commit costs more than
            # the batch. The write-ahead log holds the rest until close, which checkpoints.
            self.connection.execute("set checkpoint_threshold = '1GB'")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.connection.execute(sql, list(params))

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        changed = self.connection.execute(sql, list(params)).fetchone()
        return int(changed[0]) if changed else 0

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql, list(params)).fetchall()

    def append(self, table: str, data: pa.Table) -> None:
        self.connection.register("incoming", data)
        try:
            columns = ", ".join(f'"{name}"' for name in data.column_names)
            self.connection.execute(
                f"insert into {table} ({columns}) select {columns} from incoming"
            )
        finally:
            self.connection.unregister("incoming")

    @contextmanager
    def staged(self, data: pa.Table, like: str) -> Iterator[str]:
        # Scanned in place: no copy into a temporary table (DuckDB casts as it inserts).
        self.connection.register("_staged", data)
        try:
            yield "_staged"
        finally:
            self.connection.unregister("_staged")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.connection.execute("begin transaction")
        try:
            yield
        except BaseException:
            self.connection.execute("rollback")
            raise
        self.connection.execute("commit")

    def sibling(self) -> DuckDBWarehouse:
        # A file has one read-write process; threads of it each need a connection of their
        # own to the same instance (a cursor), and DuckDB runs their transactions side by side.
        return DuckDBWarehouse(self.path, self.read_only, connection=self.connection.cursor())

    def close(self) -> None:
        self.connection.close()


class PostgresWarehouse:
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection = psycopg.connect(url, autocommit=True)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.connection.execute(_pyformat(sql), list(params))

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self.connection.execute(_pyformat(sql), list(params)).rowcount

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.connection.execute(_pyformat(sql), list(params)).fetchall()

    def append(self, table: str, data: pa.Table) -> None:
        buffer = io.BytesIO()
        pacsv.write_csv(data, buffer, pacsv.WriteOptions(include_header=False))
        columns = ", ".join(f'"{name}"' for name in data.column_names)
        with (
            self.connection.cursor() as cursor,
            cursor.copy(f"copy {table} ({columns}) from stdin with (format csv)") as copy,
        ):
            copy.write(buffer.getvalue())

    @contextmanager
    def staged(self, data: pa.Table, like: str) -> Iterator[str]:
        columns = ", ".join(f'"{name}"' for name in data.column_names)
        self.execute("drop table if exists _staged")
        self.execute(f"create temporary table _staged as select {columns} from {like} limit 0")
        try:
            self.append("_staged", data)
            yield "_staged"
        finally:
            self.execute("drop table if exists _staged")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.connection.transaction():
            yield

    def sibling(self) -> PostgresWarehouse:
        return PostgresWarehouse(self.url)

    def close(self) -> None:
        self.connection.close()


def _pyformat(sql: str) -> str:
    """The platform writes DuckDB's ``?`` placeholders; psycopg wants ``%s`` (and ``%%``)."""
    return sql.replace("%", "%%").replace("?", "%s")


@contextmanager
def one_thread_per_statement(warehouse: Warehouse) -> Iterator[None]:
    """Meanwhile DuckDB runs each statement on one thread. Ingestion runs its own stages side
    by side, one per core; DuckDB spreading each statement over the cores as well only makes
    them contend (measured on dossiers and documents: bench/README.md)."""
    if not isinstance(warehouse, DuckDBWarehouse):  # PostgreSQL: a server process per session
        yield
        return
    previous = warehouse.fetch("select current_setting('threads')")[0][0]
    warehouse.execute("set threads = 1")
    try:
        yield
    finally:
        warehouse.execute(f"set threads = {int(previous)}")


def connect(settings: Settings, read_only: bool = False) -> Warehouse:
    if settings.target == "postgres":
        ensure_postgres_database(settings.pg_url)
        return PostgresWarehouse(settings.pg_url)
    return DuckDBWarehouse(settings.warehouse_path, read_only=read_only)


@contextmanager
def session(settings: Settings, read_only: bool = False) -> Iterator[Warehouse]:
    warehouse = connect(settings, read_only=read_only)
    try:
        yield warehouse
    finally:
        warehouse.close()


def ensure_postgres_database(url: str) -> None:
    """Create the database named in ``url`` when the server does not have it yet."""
    name = urlsplit(url).path.lstrip("/")
    maintenance = url[: url.rfind("/")] + "/postgres"
    with psycopg.connect(maintenance, autocommit=True) as connection:
        exists = connection.execute("select 1 from pg_database where datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(f'create database "{name}"')


def publish_serving_copy(settings: Settings) -> Path | None:
    """Replace the read-only copy that dashboards and publishing read, atomically.

    DuckDB allows one writer and locks readers out while it writes, so readers never open the
    pipeline's file: they get a copy, swapped in with a rename once a build has succeeded.
    """
    if settings.target != "duckdb":
        return None
    target = settings.serving_path
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".duckdb.tmp")
    with duckdb.connect(str(settings.warehouse_path)) as connection:
        connection.execute("checkpoint")
    shutil.copyfile(settings.warehouse_path, staging)
    with duckdb.connect(str(staging)) as copy:
        scrub_personal_data(copy)
    os.replace(staging, target)
    return target


#: Columns of the ops ledger that may hold personal data: the records rejected at ingestion are
#: kept as read (ops.rejected_records). Readers query the serving copy (SQL Lab): they get the
#: reasons, never the records.
PERSONAL_COLUMNS = {"ops.rejected_records": ("payload", "record_key")}


def scrub_personal_data(copy: duckdb.DuckDBPyConnection) -> None:
    """Drop the columns that may hold personal data from a readers' copy of the warehouse."""
    for table, columns in PERSONAL_COLUMNS.items():
        schema, name = table.split(".")
        present = {
            column
            for (column,) in copy.execute(
                "select column_name from information_schema.columns"
                " where table_schema = ? and table_name = ?",
                [schema, name],
            ).fetchall()
        }
        for column in columns:
            if column in present:
                copy.execute(f'alter table {table} drop column "{column}"')
    copy.execute("checkpoint")
