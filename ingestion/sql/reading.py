"""Reading a source database: the engine, and keyset-paginated batches in (update column,
natural key) order, each one short query, with transient errors retried with backoff."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa

from core.errors import SourceError
from ingestion.sql.conversion import jsonable, kind_of
from ingestion.sql.definitions import Kind, SqlSource

T = TypeVar("T")


def engine_for(source: SqlSource, url: str) -> sa.Engine:
    """The engine reading ``source``: one pooled connection, checked before each batch."""
    try:
        backend = sa.make_url(url).get_backend_name()
    except sa.exc.ArgumentError as error:
        raise SourceError(f"{source.source_id}: {source.env_var} is not a valid URL") from error
    connect_args: dict[str, Any] = {}
    if backend in ("postgresql", "mysql", "mariadb"):
        connect_args["connect_timeout"] = 10
    if backend == "postgresql":
        connect_args["application_name"] = f"govdata-ingest-{source.name}"
    try:
        return sa.create_engine(
            url, pool_pre_ping=True, pool_size=1, max_overflow=1, connect_args=connect_args
        )
    except (sa.exc.NoSuchModuleError, ImportError) as error:
        raise SourceError(
            f"{source.source_id}: no SQLAlchemy driver for this URL's dialect ({error})"
        ) from error


def _transient(error: sa.exc.DBAPIError) -> bool:
    """A refused, dropped or timed-out connection, a deadlock: worth trying again."""
    return error.connection_invalidated or isinstance(error, sa.exc.OperationalError)


def _describe(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0] if text else ''}"


class Reader:
    """Reads a source's rows in keyset-paginated batches, retrying transient errors."""

    def __init__(
        self, source: SqlSource, engine: sa.Engine, batch_size: int, attempts: int,
        backoff_seconds: float,
    ) -> None:  # fmt: skip
        self.source = source
        self.engine = engine
        self.batch_size = batch_size
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        names = [c.name for c in source.columns]
        if source.query is not None:
            self.relation: Any = (
                sa.text(source.query).columns(*(sa.column(n) for n in names)).subquery("src")
            )
        else:
            schema, _, table = source.table.rpartition(".")  # type: ignore[union-attr]
            self.relation = sa.table(table, *(sa.column(n) for n in names), schema=schema or None)
        self.c = self.relation.c
        self.updated = self.c[source.updated_column]
        self.keys = [self.c[k] for k in source.natural_key]
        self.order = [self.updated, *self.keys]  # the read order; a batch ends on its last row

    def retrying(self, what: str, action: Callable[[], T]) -> T:
        problem = ""
        for attempt in range(1, self.attempts + 1):
            try:
                return action()
            except sa.exc.DBAPIError as error:
                if not _transient(error):
                    raise SourceError(
                        f"{self.source.source_id}: {what} failed: {_describe(error)}"
                    ) from error
                problem = _describe(error)
                self.engine.dispose()  # start again from a fresh connection
            except sa.exc.SQLAlchemyError as error:
                raise SourceError(
                    f"{self.source.source_id}: {what} failed: {_describe(error)}"
                ) from error
            if attempt < self.attempts:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise SourceError(
            f"{self.source.source_id}: {what} failed {self.attempts} times, last: {problem}"
        )

    def reflect(self) -> dict[str, Kind]:
        """The types of the source table's columns, for columns declared without one."""
        schema, _, table = self.source.table.rpartition(".")  # type: ignore[union-attr]

        def columns() -> list[Any]:
            return sa.inspect(self.engine).get_columns(table, schema=schema or None)

        found = {
            c["name"].lower(): kind_of(c["type"])
            for c in self.retrying("reading its columns", columns)
        }
        return {
            c.name: found[c.name.lower()] for c in self.source.columns if c.name.lower() in found
        }

    def page(self, since: object, after: Sequence[object] | None) -> list[tuple[object, ...]]:
        """The next batch, in read order: updated at or after ``since``, after ``after``."""
        conditions = [k.is_not(None) for k in self.keys]
        conditions.append(self.updated.is_not(None) if since is None else self.updated >= since)
        if after is not None:
            conditions.append(self.updated >= after[0])  # lets the index bound the scan
            conditions.append(_after(self.order, after))
        statement = (
            sa.select(*self.c).where(*conditions).order_by(*self.order).limit(self.batch_size)
        )
        where = "the first rows" if after is None else f"the rows after {self.position(after)}"

        def fetch() -> list[tuple[object, ...]]:
            with self.engine.connect() as connection:
                result = connection.execution_options(yield_per=self.batch_size).execute(statement)
                return [tuple(row) for row in result]

        return self.retrying(f"reading {where}", fetch)

    def anomalies(self, since: object) -> Iterator[list[tuple[object, ...]]]:
        """Rows a keyset cannot reach (null natural key; null update column on a first run)."""
        null_key = sa.or_(*(k.is_(None) for k in self.keys))
        if since is None:
            condition = sa.or_(null_key, self.updated.is_(None))
        else:
            condition = sa.and_(null_key, self.updated >= since)
        statement = sa.select(*self.c).where(condition).order_by(*self.keys, self.updated)
        done = 0

        def batches() -> Iterator[list[tuple[object, ...]]]:
            with self.engine.connect() as connection:
                result = connection.execution_options(yield_per=self.batch_size).execute(statement)
                yield from ([tuple(row) for row in part] for part in result.partitions())

        problem = ""
        for attempt in range(1, self.attempts + 1):
            seen = 0
            try:
                for rows in batches():
                    fresh = rows[max(0, done - seen) :]  # skip what an earlier attempt gave
                    seen += len(rows)
                    if fresh:
                        done += len(fresh)
                        yield fresh
                return
            except sa.exc.DBAPIError as error:
                if not _transient(error):
                    raise SourceError(
                        f"{self.source.source_id}: reading the rows with a null key or update "
                        f"column failed: {_describe(error)}"
                    ) from error
                problem = _describe(error)
                self.engine.dispose()
            except sa.exc.SQLAlchemyError as error:
                raise SourceError(
                    f"{self.source.source_id}: reading the rows with a null key or update "
                    f"column failed: {_describe(error)}"
                ) from error
            if attempt < self.attempts:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        raise SourceError(
            f"{self.source.source_id}: reading the rows with a null key or update column failed "
            f"{self.attempts} times, last: {problem}"
        )

    def position(self, values: Sequence[object]) -> str:
        """A record's place in the read order, for messages."""
        names = (self.source.updated_column, *self.source.natural_key)
        return "record " + ", ".join(
            f"{n}={jsonable(v)}" for n, v in zip(names, values, strict=True)
        )


def _after(order: Sequence[Any], values: Sequence[object]) -> Any:
    """Rows strictly after ``values`` in ``order``: (a > x) or (a = x and b > y) or ..."""
    branches = []
    for i, column in enumerate(order):
        equal = [order[j] == values[j] for j in range(i)]
        branches.append(sa.and_(*equal, column > values[i]))
    return sa.or_(*branches)
