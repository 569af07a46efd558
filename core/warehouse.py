"""One way to reach the warehouse, whichever engine holds it.

DuckDB is embedded (a single file under ``GOVDATA_HOME``); PostgreSQL is the served option.
Both are written through Arrow: DuckDB scans an Arrow table in place, PostgreSQL receives it
with ``COPY``, so loads stay fast on either.
"""

from __future__ import annotations

import fcntl
import io
import os
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from core.errors import BusyError
from core.settings import Settings


class Warehouse(Protocol):
    dialect: str
    #: The province a writing session ingests for: every raw row, run, watermark and rejected
    #: record it writes carries it (None for a session that ingests nothing, e.g. a national
    #: home's build).
    province_code: str | None

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
        province_code: str | None = None,
    ) -> None:
        self.path, self.read_only = path, read_only
        self.province_code = province_code
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
        return DuckDBWarehouse(
            self.path,
            self.read_only,
            connection=self.connection.cursor(),
            province_code=self.province_code,
        )

    def close(self) -> None:
        self.connection.close()


class PostgresWarehouse:
    dialect = "postgres"

    def __init__(self, url: str, province_code: str | None = None) -> None:
        self.url = url
        self.province_code = province_code
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
        return PostgresWarehouse(self.url, self.province_code)

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
    """A session on the warehouse; for one province's settings, one that ingests for it."""
    province = None if settings.is_national else settings.province_code
    if settings.target == "postgres":
        ensure_postgres_database(settings.pg_url)
        return PostgresWarehouse(settings.pg_url, province)
    return DuckDBWarehouse(settings.warehouse_path, read_only=read_only, province_code=province)


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


#: The schemas readers (dashboards, SQL Lab, the publisher) see: the marts alone. The raw
#: layer and the ``ops`` ledger stay with the pipeline.
READER_SCHEMAS = ("marts",)


@contextmanager
def writer_lock(settings: Settings, step: str) -> Iterator[None]:
    """Hold the warehouse's writer lock for ``step`` (ingest, build), or fail at once with
    :class:`BusyError` naming the run that holds it. The lock is the operating system's
    (``flock``): a killed run releases it with its process."""
    path = settings.home / "run" / "writer.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise BusyError(
                f"{step}: the warehouse under {settings.home} is being written by {holder}; "
                "run again when it has finished"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(
            f"{step} (process {os.getpid()}, since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)"
        )
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def publish_serving_copy(settings: Settings) -> Path | None:
    """Replace the read-only copy that dashboards and publishing read, atomically.

    DuckDB allows one writer and locks readers out while it writes, so readers never open the
    pipeline's file: they get a copy of its marts, built beside the old copy and swapped in
    with a rename once a build has succeeded (a reader holding the old file keeps reading it).
    """
    if settings.target != "duckdb":
        return None
    target = settings.serving_path
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".duckdb.tmp")
    staging.unlink(missing_ok=True)
    # Through the pipeline's own database (shared with a connection this process may hold).
    with duckdb.connect(str(settings.warehouse_path)) as pipeline:
        copy = str(staging).replace("'", "''")
        pipeline.execute(f"attach '{copy}' as serving")
        try:
            for schema in READER_SCHEMAS:
                pipeline.execute(f'create schema if not exists serving."{schema}"')
                tables = pipeline.execute(
                    "select table_name from information_schema.tables where table_catalog = "
                    "current_database() and table_schema = ? order by 1",
                    [schema],
                ).fetchall()
                for (table,) in tables:
                    pipeline.execute(
                        f'create table serving."{schema}"."{table}" as '
                        f'select * from "{schema}"."{table}"'
                    )
        finally:
            pipeline.execute("detach serving")
    os.replace(staging, target)
    return target
