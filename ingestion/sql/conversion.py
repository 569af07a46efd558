"""Values as the raw table's types: the type of a reflected column, and each value read
converted (by Arrow a column at once where it can, else value by value with the reason a value
cannot be held)."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from ingestion.sql.definitions import ARROW_TYPES, Kind

INT64 = (-(2**63), 2**63 - 1)
TRUE_TEXT = frozenset({"true", "t", "1", "yes", "y"})
FALSE_TEXT = frozenset({"false", "f", "0", "no", "n"})


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


def to_raw_type(
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


def jsonable(value: object) -> object:
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


def landing_array(values: list[object]) -> pa.Array:
    """A column as read, for the landing zone: typed when Arrow can, else as text."""
    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return pa.array([None if v is None else str(jsonable(v)) for v in values], pa.string())
