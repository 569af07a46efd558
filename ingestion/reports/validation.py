"""Validating a file's rows: the contract, the catalogue and agency directory, the period's
label and dates, values in range, conflicting resubmissions; then the raw rows and the
rejections."""

from __future__ import annotations

import dataclasses

import polars as pl
import pyarrow as pa

from ingestion.ledger import Rejection
from ingestion.reports.contracts import (
    COLUMNS,
    DATE_FORMAT,
    DATETIME_FORMAT,
    DEADLINE,
    DEADLINE_WINDOW_DAYS,
    FROM,
    INDICATOR,
    INDICATOR_NAME,
    KEY_COLUMNS,
    LATEST_SUBMISSION_DAYS,
    MEASURE,
    NOT_SUBMITTED_STATUS,
    PERIOD,
    PERIOD_KINDS,
    REGIME,
    REGIME_NAME,
    REPLACED_STATUS,
    STATUS,
    SUBMISSION_CONTRACT,
    SUBMISSIONS,
    SUBMITTED,
    SUBMITTED_STATUS,
    TO,
    UNIT,
    UNIT_NAME,
    VALUE,
    VERSION,
    WHOLE_TYPES,
)
from ingestion.reports.reading import Batch, record_key, row_payload
from ingestion.reports.reference import Reference


def _period_bounds() -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(kind, first day, cut-off) of the period a label names (Decree 09/2019 Art. 12)."""
    label = pl.col(PERIOD)
    month = label.str.extract(r"^Tháng (\d{2})/\d{4}$").cast(pl.Int32, strict=False)
    quarter = label.str.extract(r"^Quý (I|II|III|IV)/\d{4}$").replace_strict(
        {"I": 1, "II": 2, "III": 3, "IV": 4}, default=None, return_dtype=pl.Int32
    )
    six = label.str.contains(r"^6 tháng/\d{4}$")
    year_label = label.str.contains(r"^Năm \d{4}$")
    year = label.str.extract(r"(\d{4})$").cast(pl.Int32, strict=False)
    kind = (
        pl.when(month.is_between(1, 12)).then(pl.lit("month"))
        .when(quarter.is_not_null()).then(pl.lit("quarter"))
        .when(six).then(pl.lit("six_months"))
        .when(year_label).then(pl.lit("year"))
    )  # fmt: skip
    end_month = (
        pl.when(kind == "month").then(month)
        .when(kind == "quarter").then(quarter * 3)
        .when(kind == "six_months").then(pl.lit(6))
        .when(kind == "year").then(pl.lit(12))
    )  # fmt: skip
    months = (
        pl.when(kind == "month").then(pl.lit(1))
        .when(kind == "quarter").then(pl.lit(3))
        .when(kind == "six_months").then(pl.lit(6))
        .when(kind == "year").then(pl.lit(12))
    )  # fmt: skip
    start_index = year * 12 + end_month - 1 - months
    start = pl.date(start_index // 12, start_index % 12 + 1, 15)
    end = pl.date(year, end_month, 14)
    return kind, start, end


def _lookup(column: str, frame: pl.DataFrame, value: str, dtype: pl.DataType) -> pl.Expr:
    mapping = dict(zip(frame["code"].to_list(), frame[value].to_list(), strict=True))
    return pl.col(column).replace_strict(mapping, default=None, return_dtype=dtype)


def validate(rows: pl.DataFrame, reference: Reference) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(valid rows with typed ``_`` columns, rejected rows with ``_reason``), in file order."""
    kind, start, end = _period_bounds()
    regimes, indicators = reference.regimes, reference.indicators
    pairs = [f"{code}|{i}" for code, codes in regimes.select("code", "indicator_list").iter_rows()
             for i in codes]  # fmt: skip
    frequency_kinds = [f"{freq}|{k}" for freq, ks in PERIOD_KINDS.items() for k in ks]
    frame = rows.with_columns(
        _from=pl.col(FROM).str.strptime(pl.Date, DATE_FORMAT, strict=False),
        _to=pl.col(TO).str.strptime(pl.Date, DATE_FORMAT, strict=False),
        _deadline=pl.col(DEADLINE).str.strptime(pl.Date, DATE_FORMAT, strict=False),
        _submitted=pl.col(SUBMITTED).str.strptime(pl.Datetime("us"), DATETIME_FORMAT, strict=False),
        _value=pl.col(VALUE).str.strip_chars().cast(pl.Float64, strict=False),
        _version=pl.col(VERSION).cast(pl.Int64, strict=False).fill_null(0),
        _kind=kind,
        _start=start,
        _end=end,
        _regime_name=_lookup(REGIME, regimes, "name", pl.String()),
        _frequency=_lookup(REGIME, regimes, "frequency", pl.String()),
        _indicator_name=_lookup(INDICATOR, indicators, "name", pl.String()),
        _measure=_lookup(INDICATOR, indicators, "unit", pl.String()),
        _type=_lookup(INDICATOR, indicators, "type", pl.String()),
        _min=_lookup(INDICATOR, indicators, "min_value", pl.Float64()),
        _max=_lookup(INDICATOR, indicators, "max_value", pl.Float64()),
        _pair=pl.concat_str(REGIME, INDICATOR, separator="|").is_in(pairs),
    ).with_row_index("_i")
    if reference.agencies is not None:
        in_force = (
            frame.select("_i", UNIT, "_to")
            .join(reference.agencies, left_on=UNIT, right_on="code")
            .filter((pl.col("valid_from").is_null() | (pl.col("valid_from") <= pl.col("_to")))
                    & (pl.col("valid_to").is_null() | (pl.col("_to") <= pl.col("valid_to"))))
        )["_i"].unique()  # fmt: skip
        frame = frame.with_columns(_in_force=pl.col("_i").is_in(in_force.implode()))
    else:
        frame = frame.with_columns(_in_force=pl.lit(True))

    submitted = pl.col(STATUS).is_in([SUBMITTED_STATUS, REPLACED_STATUS])
    checks: list[tuple[pl.Expr, str]] = [
        *[(submitted & pl.col(c).is_null(),
           f"missing required field {c} (required once the report is submitted)")
          for c in (VALUE, SUBMITTED, VERSION)],
        ((pl.col(STATUS) == NOT_SUBMITTED_STATUS)
         & pl.any_horizontal(pl.col(c).is_not_null() for c in (VALUE, SUBMITTED, VERSION)),
         f"{STATUS}: {NOT_SUBMITTED_STATUS} but {VALUE}, {SUBMITTED} or {VERSION} is filled"),
        (pl.col(REGIME_NAME) != pl.col("_regime_name"),
         f"{REGIME_NAME}: does not match the regime catalogue"),
        (pl.col("_kind").is_null(),
         f"{PERIOD}: not a period label (Tháng MM/YYYY, Quý I-IV/YYYY, 6 tháng/YYYY, Năm YYYY)"),
        ((pl.col("_start") != pl.col("_from")) | (pl.col("_end") != pl.col("_to")),
         f"{PERIOD}: does not match {FROM} and {TO}"),
        (~pl.concat_str("_frequency", "_kind", separator="|").is_in(frequency_kinds),
         f"{PERIOD}: not a period of the regime's frequency"),
        (~pl.col("_in_force"), f"{UNIT}: no agency with this code in force on {TO}"),
        (~pl.col("_pair"), f"{INDICATOR}: not an indicator of the regime ({REGIME})"),
        (pl.col(INDICATOR_NAME) != pl.col("_indicator_name"),
         f"{INDICATOR_NAME}: does not match the indicator catalogue"),
        (pl.col(MEASURE) != pl.col("_measure"),
         f"{MEASURE}: does not match the indicator catalogue"),
        (pl.col(VALUE).is_not_null() & pl.col("_value").is_null(), f"{VALUE}: not a number"),
        (pl.col("_value") < pl.col("_min"), f"{VALUE}: below the indicator's minimum"),
        (pl.col("_value") > pl.col("_max"), f"{VALUE}: above the indicator's maximum"),
        (pl.col("_type").is_in(WHOLE_TYPES) & (pl.col("_value") != pl.col("_value").floor()),
         f"{VALUE}: not a whole number (a count or an amount)"),
        ((pl.col("_deadline") <= pl.col("_to"))
         | (pl.col("_deadline") > pl.col("_to") + pl.duration(days=DEADLINE_WINDOW_DAYS)),
         f"{DEADLINE}: out of range (not within {DEADLINE_WINDOW_DAYS} days after {TO})"),
        ((pl.col("_submitted").dt.date() < pl.col("_from"))
         | (pl.col("_submitted").dt.date()
            > pl.col("_to") + pl.duration(days=LATEST_SUBMISSION_DAYS)),
         f"{SUBMITTED}: out of range (before {FROM} or over {LATEST_SUBMISSION_DAYS} days after "
         f"{TO})"),
    ]  # fmt: skip
    contract = SUBMISSION_CONTRACT
    if reference.agencies is None:
        contract = dataclasses.replace(
            contract,
            fields=tuple(dataclasses.replace(f, codes=None) if f.name == UNIT else f
                         for f in contract.fields),
        )  # fmt: skip
    valid, rejected = contract.split(frame, reference.codes, checks)
    # The same row twice is a duplicate (counted, not loaded); the same key with other values
    # is a conflict, rejected: the first row read stands.
    valid = valid.filter(pl.struct(COLUMNS).is_first_distinct())
    conflicting = ~pl.struct(*KEY_COLUMNS[:-1], "_version").is_first_distinct()
    conflicts = valid.filter(conflicting).with_columns(
        _reason=pl.lit(f"{', '.join(KEY_COLUMNS)}: the same report row was read earlier with "
                       "other values")
    )  # fmt: skip
    valid = valid.filter(~conflicting)
    return valid, pl.concat([rejected, conflicts]).sort("_i")


def to_raw(valid: pl.DataFrame, file: str) -> pa.Table:
    frame = valid.select(
        regime_code=pl.col(REGIME),
        regime_name=pl.col(REGIME_NAME),
        period_label=pl.col(PERIOD),
        period_start=pl.col("_from"),
        period_end=pl.col("_to"),
        unit_code=pl.col(UNIT),
        unit_name=pl.col(UNIT_NAME),
        indicator_code=pl.col(INDICATOR),
        indicator_name=pl.col(INDICATOR_NAME),
        indicator_unit=pl.col(MEASURE),
        value=pl.col("_value"),
        deadline=pl.col("_deadline"),
        submitted_at=pl.col("_submitted"),
        version=pl.col("_version"),
        status=pl.col(STATUS),
        source_file=pl.lit(file),
        source_line=pl.col("_line"),
    )
    return frame.to_arrow().cast(SUBMISSIONS.schema)


def rejections_of(rejected: pl.DataFrame, batch: Batch) -> list[Rejection]:
    result = []
    # Only the text columns and where the row was: a typed column may hold a value Python's
    # datetime cannot (a workbook's date serial of year 0).
    shown = rejected.select(*COLUMNS, "_sheet", "_row", "_line", "_last_line", "_reason")
    for record in shown.iter_rows(named=True):
        fields = {c: record[c] for c in COLUMNS}
        where = ({"sheet": record["_sheet"], "row": record["_row"]} if record["_sheet"]
                 else {"text": batch.text(record["_line"], record["_last_line"])})  # fmt: skip
        payload = row_payload(batch.file, record["_line"], fields, **where)
        result.append(Rejection(record_key(fields), record["_reason"], payload))
    return result
