"""Source contracts: the fields a source declares, and their validation with polars.

A contract names each field with its type, whether it is required, the pattern its text must
match, the code list its values must belong to and the range of its numbers. ``split`` checks
a whole batch at once (vectorised) and returns the valid rows, typed, and the rejected ones
with the first reason each broke, so a rejected record is always kept with why.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl
import pyarrow as pa

TIMESTAMP_PATTERN = r"^\d{14}$"  # the national portal's yyyyMMddHHmmss
TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"
TEXT = pa.string()
TIMESTAMP = pa.timestamp("us")  # local time, as the source wrote it (no zone)
VIETNAM = timedelta(hours=7)  # the sources' clocks: Indochina Time, no daylight saving


def latest_acceptable(tolerance: timedelta, now: datetime | None = None) -> str:
    """The latest time a source may stamp a record with (its format, local time): now in
    Vietnam plus a tolerance for clocks that run ahead. Anything later is a wrong clock or a
    typo; let through, it would move the source's watermark past every record still to come."""
    local = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None) + VIETNAM
    return f"{local + tolerance:{TIMESTAMP_FORMAT}}"


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    dtype: pl.DataType | type[pl.DataType] = pl.String
    required: bool = False
    pattern: str | None = None
    codes: str | None = None  # name of the code list the value must belong to
    allowed: Collection[object] | None = None
    minimum: float | None = None
    maximum: float | None = None
    timestamp_format: str | None = None  # text that must parse as a timestamp
    personal: bool = False  # never goes past ingestion
    # The source's clock set it (when a version was pushed, an event happened): it cannot be in
    # the future, and the field a watermark follows must be one of these.
    not_in_future: bool = False
    json: bool = False  # a nested value, kept as JSON text
    derived: str | None = None  # computed from the record (SQL over its fields), checked only
    # What the raw layer keeps once the field passed its checks (text as it arrived, unless a
    # code list, a true/false or a timestamp makes a typed value lossless and cheaper to
    # store). A timestamp is read with its ``timestamp_format``.
    raw_type: pa.DataType = TEXT
    description: str = ""

    @property
    def checked(self) -> bool:
        """Whether validation reads the field."""
        return bool(
            self.required or self.pattern or self.codes or self.allowed is not None
            or self.minimum is not None or self.maximum is not None or self.timestamp_format
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Contract:
    source: str
    fields: tuple[Field, ...]

    @property
    def personal_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.personal)

    @property
    def scalar_fields(self) -> tuple[str, ...]:
        """Fields read as the text they were sent as."""
        return tuple(f.name for f in self.fields if not f.json and not f.derived)

    @property
    def json_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.json)

    @property
    def derived(self) -> dict[str, str]:
        return {f.name: f.derived for f in self.fields if f.derived}

    @property
    def raw_schema(self) -> pa.Schema:
        """What reaches the raw layer, as it types it: every field but personal and derived
        ones."""
        return pa.schema([(f.name, f.raw_type) for f in self.fields
                          if not f.personal and not f.derived])  # fmt: skip

    @property
    def stored_fields(self) -> tuple[str, ...]:
        return tuple(self.raw_schema.names)

    def timestamps(self, frame: pl.DataFrame) -> dict[str, pl.Series]:
        """The fields the raw layer keeps as timestamps, read from ``frame``'s checked text."""
        return {
            f.name: frame[f.name].str.strptime(pl.Datetime("us"), f.timestamp_format, strict=False)
            for f in self.fields
            if f.raw_type == TIMESTAMP and f.timestamp_format
        }

    def checks(
        self, codes: Mapping[str, Collection[str]], latest: str | None = None
    ) -> list[tuple[pl.Expr, str]]:
        """(condition that flags a bad row, reason) pairs, in the order they are reported.
        ``latest``: the latest acceptable time (:func:`latest_acceptable`)."""
        checks: list[tuple[pl.Expr, str]] = []
        for f in self.fields:
            column = pl.col(f.name)
            if f.required:
                empty = column.is_null()
                if f.dtype == pl.String:
                    empty = empty | (column == "")
                checks.append((empty, f"missing required field {f.name}"))
        for f in self.fields:
            column = pl.col(f.name)
            if f.pattern:
                checks.append(
                    (column.is_not_null() & ~column.str.contains(f.pattern),
                     f"{f.name}: not in the expected format")
                )  # fmt: skip
            if f.timestamp_format:
                parsed = column.str.strptime(pl.Datetime, f.timestamp_format, strict=False)
                checks.append(
                    (column.is_not_null() & parsed.is_null(), f"{f.name}: not a valid date")
                )
            if f.not_in_future and latest is not None:
                # Text of one fixed width (the pattern was checked first): compared as text.
                checks.append(
                    (column.is_not_null() & (column > latest),
                     f"{f.name}: in the future (after {latest}): not loaded, the watermark kept")
                )  # fmt: skip
            if f.allowed is not None:
                checks.append(
                    (column.is_not_null() & ~column.is_in(list(f.allowed)),
                     f"{f.name}: unknown code")
                )  # fmt: skip
            if f.codes is not None:
                known = list(codes.get(f.codes, ()))
                checks.append(
                    (column.is_not_null() & ~column.is_in(known),
                     f"{f.name}: not in the {f.codes} code list")
                )  # fmt: skip
            if f.minimum is not None:
                checks.append((column < f.minimum, f"{f.name}: below {f.minimum:g}"))
            if f.maximum is not None:
                checks.append((column > f.maximum, f"{f.name}: above {f.maximum:g}"))
        return checks

    def split(
        self, frame: pl.DataFrame, codes: Mapping[str, Collection[str]] | None = None,
        extra_checks: list[tuple[pl.Expr, str]] | None = None, latest: str | None = None,
    ) -> tuple[pl.DataFrame, pl.DataFrame]:  # fmt: skip
        """(valid rows, rejected rows with a ``_reason`` column)."""
        checks = self.checks(codes or {}, latest) + (extra_checks or [])
        if not checks:
            return frame, frame.clear().with_columns(_reason=pl.lit("", pl.String))
        reason: pl.Expr = pl.lit(None, pl.String)
        for condition, why in reversed(checks):
            reason = pl.when(condition.fill_null(False)).then(pl.lit(why)).otherwise(reason)
        flagged = frame.with_columns(_reason=reason)
        valid = flagged.filter(pl.col("_reason").is_null()).drop("_reason")
        rejected = flagged.filter(pl.col("_reason").is_not_null())
        return valid, rejected
