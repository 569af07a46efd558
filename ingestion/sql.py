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
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
import yaml
from sqlalchemy.dialects import mysql

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import Warehouse
from ingestion import ledger
from ingestion.contract import Contract, Field
from ingestion.landing import land
from ingestion.ledger import IngestResult, Rejection, RunCounts
from ingestion.loader import RawTable, load_batch

SOURCES_DIR = Path(__file__).resolve().parent / "sources"
DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh"  # the warehouse keeps local (Vietnam) time, naive
DEFAULT_BATCH_SIZE = 10_000

Kind = Literal["string", "integer", "float", "boolean", "date", "timestamp"]
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "float": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}
POLARS_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "float": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "timestamp": pl.Datetime("us"),
}
KIND_ALIASES = {
    "str": "string", "text": "string", "varchar": "string",
    "int": "integer", "bigint": "integer",
    "double": "float", "number": "float", "decimal": "float",
    "bool": "boolean",
    "datetime": "timestamp",
}  # fmt: skip
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INT64 = (-(2**63), 2**63 - 1)
TRUE_TEXT = frozenset({"true", "t", "1", "yes", "y"})
FALSE_TEXT = frozenset({"false", "f", "0", "no", "n"})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a source and what it must hold."""

    name: str
    kind: Kind | None = None  # None: reflected from the source table (string for a query)
    required: bool = False
    pattern: str | None = None  # regular expression a text value must match
    allowed: tuple[object, ...] | None = None  # the values it may take
    codes: str | None = None  # name of a code list passed to ingest_sql
    minimum: float | date | None = None
    maximum: float | date | None = None
    personal: Literal["hash", "drop"] | None = None
    description: str = ""

    @property
    def output(self) -> str | None:
        """Its name in the raw table: ``<name>_hash`` when hashed, none when dropped."""
        if self.personal == "drop":
            return None
        return f"{self.name}_hash" if self.personal == "hash" else self.name

    @property
    def output_kind(self) -> str:
        return "string" if self.personal == "hash" else self.kind or "string"


@dataclass(frozen=True, slots=True)
class SqlSource:
    """A table (or query) of a source database, read incrementally on its update column."""

    name: str  # lower-case identifier: source ``sql.<name>``, table ``raw.sql__<name>``
    columns: tuple[Column, ...]
    natural_key: tuple[str, ...]
    updated_column: str
    table: str | None = None  # ``schema.table`` or ``table``
    query: str | None = None  # a select statement, read as a subquery
    url_env: str | None = None  # environment variable holding the SQLAlchemy URL
    timezone: str = DEFAULT_TIMEZONE  # aware timestamps are converted to this local time
    lookback_seconds: int = 0  # re-read this far before the watermark (late commits)
    batch_size: int = DEFAULT_BATCH_SIZE
    enabled: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        problems = []
        if not NAME.match(self.name):
            problems.append("name must be lower-case letters, digits and _")
        if (self.table is None) == (self.query is None):
            problems.append("give exactly one of table or query")
        names = [c.name for c in self.columns]
        bad = [n for n in names if not COLUMN.match(n)]
        if bad:
            problems.append(
                f"column names must be plain identifiers (alias them in a query): {bad}"
            )
        if len(set(names)) != len(names):
            problems.append("a column is declared twice")
        if not self.natural_key:
            problems.append("natural_key is empty")
        for key in (*self.natural_key, self.updated_column):
            if key not in names:
                problems.append(f"{key} is not a declared column")
            elif self.column(key).personal:
                problems.append(f"{key} is a key or the update column and cannot be personal")
        for c in self.columns:
            if c.kind is not None and c.kind not in ARROW_TYPES:
                problems.append(f"{c.name}: unknown type {c.kind!r}")
            if c.personal not in (None, "hash", "drop"):
                problems.append(f"{c.name}: personal must be hash or drop")
        outputs = [c.output for c in self.columns if c.output]
        if len(set(outputs)) != len(outputs):
            problems.append("two columns have the same name in the raw table")
        if self.batch_size < 1 or self.lookback_seconds < 0:
            problems.append("batch_size must be positive and lookback_seconds not negative")
        if self.lookback_seconds and self.column(self.updated_column).kind not in (
            None, "timestamp", "date"
        ):  # fmt: skip
            problems.append("lookback_seconds needs a timestamp or date update column")
        try:
            ZoneInfo(self.timezone)
        except (KeyError, ValueError):
            problems.append(f"unknown timezone {self.timezone!r}")
        if problems:
            raise ValueError(f"SQL source {self.name!r}: " + "; ".join(problems))

    @property
    def source_id(self) -> str:
        return f"sql.{self.name}"

    @property
    def raw_table_name(self) -> str:
        return f"raw.sql__{self.name}"

    @property
    def env_var(self) -> str:
        return self.url_env or f"GOVDATA_SQL_{self.name.upper()}_URL"

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    def url(self) -> str:
        """The connection URL, from the environment (or the ``.env`` file), never from code."""
        url = os.environ.get(self.env_var)
        if not url and Path(".env").is_file():
            from dotenv import dotenv_values  # pydantic-settings' own .env reader

            url = dotenv_values(".env").get(self.env_var)
        if not url:
            raise SourceError(
                f"{self.source_id}: set {self.env_var} to the SQLAlchemy URL of its database, "
                "e.g. postgresql+psycopg://reader@host:5432/db"
            )
        return url

    @property
    def contract(self) -> Contract:
        """The declared contract; columns of unknown type are checked as text."""
        required = {*self.natural_key, self.updated_column}
        return Contract(
            source=self.source_id,
            fields=tuple(
                Field(
                    c.name,
                    dtype=POLARS_TYPES[c.kind or "string"],
                    required=c.required or c.name in required,
                    pattern=c.pattern,
                    codes=c.codes,
                    allowed=c.allowed,
                    minimum=c.minimum if _numeric(c) else None,
                    maximum=c.maximum if _numeric(c) else None,
                    personal=c.personal is not None,
                    description=c.description,
                )
                for c in self.columns
            ),
        )

    def extra_checks(self) -> list[tuple[pl.Expr, str]]:
        """Date and timestamp ranges, which the contract's numeric ranges do not cover."""
        checks = []
        for c in self.columns:
            if c.kind not in ("date", "timestamp"):
                continue
            for bound, below in ((c.minimum, True), (c.maximum, False)):
                if bound is None:
                    continue
                value = _bound(bound, c.kind)
                column = pl.col(c.name)
                flagged = column < value if below else column > value
                checks.append((flagged, f"{c.name}: {'before' if below else 'after'} {bound}"))
        return checks

    def raw_table(self) -> RawTable:
        schema = pa.schema(
            [(c.output, ARROW_TYPES[c.output_kind]) for c in self.columns if c.output]
        )
        return RawTable(self.raw_table_name, schema, self.natural_key, self.updated_column)


def _numeric(column: Column) -> bool:
    return column.kind in ("integer", "float")


def _bound(value: float | date, kind: str) -> date | datetime:
    if isinstance(value, datetime):
        return value if kind == "timestamp" else value.date()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day) if kind == "timestamp" else value
    raise ValueError(f"a {kind} bound must be a date, not {value!r}")


# ---------------------------------------------------------------- definitions (YAML)


def source_from_mapping(spec: Mapping[str, Any]) -> SqlSource:
    """A source from its YAML form (see ``ingestion/sources/pakn.yaml``)."""
    spec = dict(spec)
    raw_columns = spec.pop("columns", None)
    if not isinstance(raw_columns, Mapping) or not raw_columns:
        raise ValueError(f"SQL source {spec.get('name')!r}: columns must be a non-empty mapping")
    columns = []
    for name, options in raw_columns.items():
        options = dict(options or {})
        kind = options.pop("type", None)
        if kind is not None:
            kind = KIND_ALIASES.get(str(kind).lower(), str(kind).lower())
        if "allowed" in options and options["allowed"] is not None:
            options["allowed"] = tuple(options["allowed"])
        try:
            columns.append(Column(name=str(name), kind=kind, **options))
        except TypeError as error:
            raise ValueError(f"SQL source {spec.get('name')!r}, column {name}: {error}") from None
    key = spec.pop("natural_key", ())
    spec["natural_key"] = (key,) if isinstance(key, str) else tuple(key)
    try:
        return SqlSource(columns=tuple(columns), **spec)
    except TypeError as error:
        raise ValueError(f"SQL source {spec.get('name')!r}: {error}") from None


def load_source(path: Path) -> SqlSource:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(spec, Mapping):
        raise ValueError(f"{path}: not a YAML mapping")
    spec.setdefault("name", path.stem)
    try:
        return source_from_mapping(spec)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def load_sources(directory: Path = SOURCES_DIR, enabled_only: bool = True) -> list[SqlSource]:
    """Every source defined under ``directory`` (``*.yaml``), the enabled ones by default."""
    sources = [load_source(p) for p in sorted(directory.glob("*.y*ml"))]
    return [s for s in sources if s.enabled or not enabled_only]


# ---------------------------------------------------------------- types


def kind_of(sql_type: sa.types.TypeEngine[Any]) -> Kind:
    """The raw-table type of a source column, from its reflected SQLAlchemy type."""
    if isinstance(sql_type, sa.Boolean):
        return "boolean"
    if isinstance(sql_type, mysql.TINYINT) and sql_type.display_width == 1:
        return "boolean"  # MySQL and MariaDB spell BOOLEAN as TINYINT(1)
    if isinstance(sql_type, sa.Integer):
        return "integer"
    if isinstance(sql_type, sa.Float):
        return "float"
    if isinstance(sql_type, sa.Numeric):
        return "integer" if sql_type.scale == 0 else "float"
    if isinstance(sql_type, sa.DateTime):
        return "timestamp"
    if isinstance(sql_type, sa.Date):
        return "date"
    return "string"


def convert(value: object, kind: str, zone: ZoneInfo) -> tuple[object, str | None]:
    """A source value as the raw table's type: (value, None), or (None, what is wrong)."""
    if value is None:
        return None, None
    if kind == "string":
        if isinstance(value, bytes | bytearray | memoryview):
            try:
                value = bytes(value).decode()
            except UnicodeDecodeError:
                return None, "not valid UTF-8 text"
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, Decimal):
            value = format(value, "f")
        elif isinstance(value, datetime | date):
            value = value.isoformat()
        elif not isinstance(value, str):
            value = str(value)
        if "\x00" in value:
            return None, "contains a NUL character"
        return value, None
    if kind == "integer":
        if isinstance(value, bool):
            return int(value), None
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                return None, "not an integer"
        elif isinstance(value, float | Decimal):
            if not math.isfinite(value) or value != int(value):
                return None, "not an integer"
            value = int(value)
        elif not isinstance(value, int):
            return None, "not an integer"
        if not INT64[0] <= value <= INT64[1]:
            return None, "integer out of range"
        return value, None
    if kind == "float":
        if isinstance(value, bool):
            return None, "not a number"
        try:
            number = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None, "not a number"
        if not math.isfinite(number):
            return None, "not a finite number"
        return number, None
    if kind == "boolean":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, int | Decimal) and value in (0, 1):
            return bool(value), None
        if isinstance(value, str) and value.strip().lower() in TRUE_TEXT | FALSE_TEXT:
            return value.strip().lower() in TRUE_TEXT, None
        return None, "not a boolean"
    if kind == "timestamp":
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                return None, "not a timestamp"
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(zone).replace(tzinfo=None)
            return value, None
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day), None
        return None, "not a timestamp"
    if kind == "date":
        if isinstance(value, str):
            try:
                return date.fromisoformat(value.strip()), None
            except ValueError:
                return None, "not a date"
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(zone)
            return value.date(), None
        if isinstance(value, date):
            return value, None
        return None, "not a date"
    raise ValueError(f"unknown type {kind!r}")


def _typed(
    values: list[object], kind: str, zone: ZoneInfo
) -> tuple[pa.Array, list[str | None] | None]:
    """A column as the raw table's type, and what is wrong with each value (None: nothing).

    A column whose values all have the expected Python type is converted by Arrow at once;
    any other goes value by value through :func:`convert`.
    """
    target = ARROW_TYPES[kind]
    types = {type(v) for v in values} - {type(None)}
    fast: pa.Array | None = None
    try:
        if kind == "string" and types <= {str}:
            fast = pa.array(values, target)
            if pc.any(pc.match_substring(fast, "\x00")).as_py():
                fast = None
        elif (kind == "integer" and types <= {int}) or (kind == "boolean" and types <= {bool}):
            fast = pa.array(values, target)
        elif kind == "float" and types <= {int, float}:
            fast = pa.array(values, target)
            if not pc.all(pc.is_finite(fast)).as_py():
                fast = None
        elif kind == "date" and types <= {date}:
            fast = pa.array(values, target)
        elif kind == "timestamp" and types <= {datetime}:
            naive = {v.tzinfo is None for v in values if v is not None}  # type: ignore[union-attr]
            if naive == {True} or not naive:
                fast = pa.array(values, target)
            elif naive == {False}:  # aware: to the source's local time, then naive
                aware = pa.array(values).cast(pa.timestamp("us", tz=zone.key))
                fast = pc.local_timestamp(aware).cast(target)
    except (pa.ArrowException, OverflowError):
        fast = None
    if fast is not None:
        return fast, None
    converted, problems = [], []
    for value in values:
        result, problem = convert(value, kind, zone)
        converted.append(result)
        problems.append(problem)
    return pa.array(converted, target), problems


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def _landing_array(values: list[object]) -> pa.Array:
    """A column as read, for the landing zone: typed when Arrow can, else as text."""
    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return pa.array([None if v is None else str(_jsonable(v)) for v in values], pa.string())


# ---------------------------------------------------------------- reading


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


class _Reader:
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
            f"{n}={_jsonable(v)}" for n, v in zip(names, values, strict=True)
        )


def _after(order: Sequence[Any], values: Sequence[object]) -> Any:
    """Rows strictly after ``values`` in ``order``: (a > x) or (a = x and b > y) or ..."""
    branches = []
    for i, column in enumerate(order):
        equal = [order[j] == values[j] for j in range(i)]
        branches.append(sa.and_(*equal, column > values[i]))
    return sa.or_(*branches)


# ---------------------------------------------------------------- one batch


@dataclass(slots=True)
class _Batch:
    landed: pa.Table  # as read, personal data included (the landing zone only)
    rows: pa.Table  # valid, pseudonymised, as the raw table's schema
    rejections: list[Rejection]
    read: int
    last: tuple[object, ...] | None = None  # (updated, *natural key) of the last row read


@dataclass(slots=True)
class _Context:
    source: SqlSource
    kinds: dict[str, str]
    zone: ZoneInfo
    key: bytes
    codes: Mapping[str, Collection[str]]
    contract: Contract
    extra_checks: list[tuple[pl.Expr, str]] = field(default_factory=list)


def _prepare(ctx: _Context, raw: list[tuple[object, ...]]) -> _Batch:
    source = ctx.source
    names = [c.name for c in source.columns]
    position = {name: i for i, name in enumerate(names)}
    values = {name: [row[position[name]] for row in raw] for name in names}
    landed = pa.table({name: _landing_array(values[name]) for name in names})

    # Types first: a value the raw table cannot hold rejects its row with a precise reason.
    typed: dict[str, pa.Array] = {}
    type_reason: list[str | None] = [None] * len(raw)
    for name in names:
        typed[name], problems = _typed(values[name], ctx.kinds[name], ctx.zone)
        for i, problem in enumerate(problems or ()):
            if problem and type_reason[i] is None:
                type_reason[i] = f"{name}: {problem}"
    frame = pl.from_arrow(pa.table(typed | {"_i": pa.array(range(len(raw)), pa.int64())}))
    assert isinstance(frame, pl.DataFrame)
    ok_types = pl.Series([r is None for r in type_reason], dtype=pl.Boolean)
    valid, rejected = ctx.contract.split(frame.filter(ok_types), ctx.codes, ctx.extra_checks)
    reasons = {i: r for i, r in enumerate(type_reason) if r is not None}
    reasons.update(zip(rejected["_i"].to_list(), rejected["_reason"].to_list(), strict=True))

    rejections = [
        Rejection(_record_key(source, raw[i], position), reasons[i], _payload(ctx, raw[i], names))
        for i in sorted(reasons)
    ]
    outputs = {}
    kept = valid["_i"].to_list()
    for c in source.columns:
        if c.personal == "drop":
            continue
        if c.personal == "hash":
            hashed = ledger.keyed_hashes(ctx.key, [values[c.name][i] for i in kept])
            outputs[c.output] = pa.array(hashed, pa.string())
        else:
            outputs[c.name] = valid[c.name].to_arrow().cast(ARROW_TYPES[ctx.kinds[c.name]])
    rows = pa.table(outputs, schema=source.raw_table().schema)
    return _Batch(landed, rows, rejections, len(raw))


def _record_key(source: SqlSource, row: tuple[object, ...], position: Mapping[str, int]) -> str:
    parts = [row[position[k]] for k in source.natural_key]
    return "|".join("" if v is None else str(_jsonable(v)) for v in parts)


def _payload(ctx: _Context, row: tuple[object, ...], names: list[str]) -> str:
    """The rejected row as JSON, its personal columns pseudonymised like the raw table's."""
    record: dict[str, object] = {}
    for name, value in zip(names, row, strict=True):
        column = ctx.source.column(name)
        if column.personal == "drop":
            continue
        if column.personal == "hash":
            record[column.output] = ledger.keyed_hash(ctx.key, value)  # type: ignore[index]
        else:
            record[name] = _jsonable(value)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _new_rejections(
    warehouse: Warehouse, source_id: str, rejections: list[Rejection]
) -> list[Rejection]:
    """Drop rejections already recorded (a record read again): they count as duplicates."""
    if not rejections:
        return []
    keys = sorted({r.record_key or "" for r in rejections})
    seen: set[tuple[str, str]] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        placeholders = ", ".join("?" for _ in chunk)
        seen.update(
            (key or "", payload)
            for key, payload in warehouse.fetch(
                "select record_key, payload from ops.rejected_records "
                f"where source = ? and coalesce(record_key, '') in ({placeholders})",
                [source_id, *chunk],
            )
        )
    fresh = []
    for rejection in rejections:
        identity = (rejection.record_key or "", rejection.payload)
        if identity not in seen:
            seen.add(identity)
            fresh.append(rejection)
    return fresh


# ---------------------------------------------------------------- watermark


def _watermark_text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def _watermark_value(text: str | None, kind: str) -> object:
    if text is None:
        return None
    if kind == "timestamp":
        return datetime.fromisoformat(text)
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "integer":
        return int(text)
    if kind == "float":
        return float(text)
    return text


def _later(value: object, than: object) -> bool:
    if than is None:
        return True
    try:
        return value > than  # type: ignore[operator]
    except TypeError:  # naive against aware: compare as text, as stored
        return _watermark_text(value) > _watermark_text(than)


# ---------------------------------------------------------------- a run


def _check_raw_columns(warehouse: Warehouse, table: RawTable) -> None:
    schema, _, name = table.name.partition(".")
    existing = [
        row[0]
        for row in warehouse.fetch(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        )
        if row[0] not in ("_run_id", "_loaded_at")
    ]
    wanted = table.schema.names
    if existing and existing != wanted:
        raise SourceError(
            f"{table.name} has the columns {existing} but the source now declares {wanted}: "
            "migrate the raw table (or give the source a new name) before loading"
        )


def ingest_sql(
    settings: Settings,
    warehouse: Warehouse,
    source: SqlSource,
    run_id: str | None = None,
    batch_size: int | None = None,
    *,
    codes: Mapping[str, Collection[str]] | None = None,
    attempts: int = 5,
    backoff_seconds: float = 0.5,
    on_batch: Callable[[RunCounts], None] | None = None,
) -> IngestResult:
    """Bring the rows of ``source`` updated since its watermark into ``raw.sql__<name>``.

    ``codes`` holds the code lists that columns declared with ``codes:`` must belong to;
    ``on_batch`` is called after each committed batch with its counts.
    """
    run_id = run_id or ledger.new_run_id()
    started = time.monotonic()
    source_id = source.source_id
    ledger.ensure_ops_schema(warehouse)
    stored = ledger.read_watermark(warehouse, source_id)
    result = IngestResult(source_id, run_id, "running", watermark_from=stored)
    ledger.start_run(warehouse, run_id, source_id, stored)
    engine: sa.Engine | None = None
    try:
        engine = engine_for(source, source.url())
        reader = _Reader(source, engine, batch_size or source.batch_size, attempts, backoff_seconds)
        kinds = {c.name: c.kind for c in source.columns}
        if any(k is None for k in kinds.values()) and source.table is not None:
            reflected = reader.reflect()
            missing = [n for n, k in kinds.items() if k is None and n not in reflected]
            if missing:
                raise SourceError(f"{source_id}: {source.table} has no column {missing}")
            kinds = {n: k or reflected[n] for n, k in kinds.items()}
        resolved = replace(
            source,
            columns=tuple(replace(c, kind=kinds[c.name] or "string") for c in source.columns),
        )
        table = resolved.raw_table()
        ctx = _Context(
            resolved,
            {n: k or "string" for n, k in kinds.items()},
            ZoneInfo(source.timezone),
            settings.pii_key(),
            codes or {},
            resolved.contract,
            resolved.extra_checks(),
        )
        _check_raw_columns(warehouse, table)
        table.ensure(warehouse)

        updated_kind = ctx.kinds[source.updated_column]
        watermark = _watermark_value(stored, updated_kind)
        since = watermark
        if since is not None and source.lookback_seconds:
            since = since - timedelta(seconds=source.lookback_seconds)  # type: ignore[operator]
        part = 0

        def commit(batch: _Batch, what: str) -> None:
            nonlocal part, watermark
            land(settings, source_id, run_id, part, batch.landed)
            part += 1
            try:
                with warehouse.transaction():
                    fresh = _new_rejections(warehouse, source_id, batch.rejections)
                    counts = load_batch(
                        warehouse, run_id, source_id, table, batch.rows, fresh, batch.read
                    )
                    advanced = None
                    if batch.last is not None and _later(batch.last[0], watermark):
                        advanced = batch.last[0]
                        ledger.write_watermark(warehouse, source_id, _watermark_text(advanced))
                    ledger.add_to_run(
                        warehouse, run_id, source_id, counts,
                        _watermark_text(advanced) if advanced is not None else None,
                    )  # fmt: skip
            except Exception as error:
                raise SourceError(f"{source_id}: loading {what} failed: {error}") from error
            if advanced is not None:
                watermark = advanced
            result.counts.add(counts)
            if on_batch:
                on_batch(counts)

        for rows in reader.anomalies(since):
            commit(_prepare(ctx, rows), "rows with a null key or update column")

        after: tuple[object, ...] | None = None
        while True:
            rows = reader.page(since, after)
            if not rows:
                break
            first = reader.position(_order_values(source, rows[0]))
            batch = _prepare(ctx, rows)
            batch.last = _order_values(source, rows[-1])
            commit(batch, f"the batch from {first} to {reader.position(batch.last)}")
            after = batch.last
            if len(rows) < reader.batch_size:
                break
    except BaseException as error:
        result.status = "failed"
        message = str(error) if isinstance(error, SourceError) else f"{source_id}: {error!r}"
        with contextlib.suppress(Exception):  # a dead warehouse: the first error matters more
            ledger.finish_run(warehouse, run_id, source_id, "failed", message[:1000])
        raise
    finally:
        if engine is not None:
            engine.dispose()
    ledger.finish_run(warehouse, run_id, source_id, "success")
    result.status = "success"
    result.watermark_to = _watermark_text(watermark) if watermark is not None else None
    result.seconds = time.monotonic() - started
    return result


def _order_values(source: SqlSource, row: tuple[object, ...]) -> tuple[object, ...]:
    names = [c.name for c in source.columns]
    return tuple(row[names.index(n)] for n in (source.updated_column, *source.natural_key))
