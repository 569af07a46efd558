"""A SQL source's definition: its columns and what they must hold (:class:`Column`), the table
or query, key and update column (:class:`SqlSource`), and how it is read from its YAML file
under ``ingestion/sources/``."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow as pa
import yaml

from core.errors import SourceError
from ingestion.contract import Contract, Field
from ingestion.loader import RawTable

SOURCES_DIR = Path(__file__).resolve().parent.parent / "sources"  # ingestion/sources
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
