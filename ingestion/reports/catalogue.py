"""The catalogue (``regimes.json``): the regimes and their indicators, checked and kept as
snapshots (``raw.reports__regimes``, ``raw.reports__indicators``), the province's rows replaced
when they change."""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl
import pyarrow as pa

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import Warehouse
from ingestion import landing, ledger
from ingestion.ledger import IngestResult, Rejection, RunCounts
from ingestion.loader import (
    PROVINCE,
    SQL_TYPES,
    ensure_raw_columns,
    replace_snapshot,
    snapshot_rows,
)
from ingestion.reports.contracts import (
    CATALOGUE_FILE,
    INDICATOR_CONTRACT,
    INDICATORS_SCHEMA,
    INDICATORS_SOURCE,
    INDICATORS_TABLE,
    REGIME_CONTRACT,
    REGIMES_JSON,
    REGIMES_SCHEMA,
    REGIMES_SOURCE,
    REGIMES_TABLE,
    SOURCE,
)


def _json_text(value: object) -> str | None:
    return None if value is None else ledger.dumps(value)


def read_catalogue(
    path: Path,
) -> tuple[pl.DataFrame, list[Rejection], pl.DataFrame, list[Rejection], int, int]:
    """(regimes, their rejections, indicators, their rejections, regimes read, indicators read)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        regimes, indicators = document["regimes"], document["indicators"]
        if not isinstance(regimes, list) or not isinstance(indicators, list):
            raise TypeError("regimes and indicators must be lists")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SourceError(f"{SOURCE}: cannot read the catalogue {path}: {error}") from error

    def text(record: object, name: str) -> str | None:
        value = record.get(name) if isinstance(record, dict) else None
        return None if value is None else str(value)

    def number(record: object, name: str) -> float | None:
        value = record.get(name) if isinstance(record, dict) else None
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else None

    indicator_frame = pl.DataFrame(
        {
            "code": [text(i, "code") for i in indicators],
            "name": [text(i, "name") for i in indicators],
            "unit": [text(i, "unit") for i in indicators],
            "type": [text(i, "type") for i in indicators],
            "min_value": [number(i, "min") for i in indicators],
            "max_value": [number(i, "max") for i in indicators],
            "_i": list(range(len(indicators))),
        },
        schema={"code": pl.String, "name": pl.String, "unit": pl.String, "type": pl.String,
                "min_value": pl.Float64, "max_value": pl.Float64, "_i": pl.Int64},
    )  # fmt: skip
    valid_indicators, bad = INDICATOR_CONTRACT.split(
        indicator_frame,
        extra_checks=[(pl.col("min_value") > pl.col("max_value"), "min: above max"),
                      (~pl.col("code").is_first_distinct(), "code: listed twice")],
    )  # fmt: skip
    indicator_rejections = [
        Rejection(code, reason, ledger.dumps(indicators[i]))
        for code, reason, i in bad.select("code", "_reason", "_i").iter_rows()
    ]
    known = set(valid_indicators["code"].to_list())

    def codes_of(record: object) -> list[str] | None:
        value = record.get("indicators") if isinstance(record, dict) else None
        return [str(c) for c in value] if isinstance(value, list) else None

    def deadline(record: object, part: str) -> object:
        value = record.get("deadline") if isinstance(record, dict) else None
        return value.get(part) if isinstance(value, dict) else None

    lists = [codes_of(r) for r in regimes]
    regime_frame = pl.DataFrame(
        {
            "code": [text(r, "code") for r in regimes],
            "name": [text(r, "name") for r in regimes],
            "issuing_body": [text(r, "issuing_body") for r in regimes],
            "frequency": [text(r, "frequency") for r in regimes],
            "reporting_kinds": [_json_text(r.get("reporting_kinds")) if isinstance(r, dict)
                                else None for r in regimes],
            "departments": [_json_text(r.get("departments")) if isinstance(r, dict) else None
                            for r in regimes],
            "deadline_rule": [None if (v := deadline(r, "rule")) is None else str(v)
                              for r in regimes],
            "deadline_value": [v if isinstance(v := deadline(r, "value"), int) else None
                               for r in regimes],
            "indicator_list": lists,
            "_unknown": [codes is None or not codes or not set(codes) <= known for codes in lists],
            "_i": list(range(len(regimes))),
        },
        schema={"code": pl.String, "name": pl.String, "issuing_body": pl.String,
                "frequency": pl.String, "reporting_kinds": pl.String, "departments": pl.String,
                "deadline_rule": pl.String, "deadline_value": pl.Int64,
                "indicator_list": pl.List(pl.String), "_unknown": pl.Boolean, "_i": pl.Int64},
    )  # fmt: skip
    valid_regimes, bad = REGIME_CONTRACT.split(
        regime_frame,
        extra_checks=[
            (pl.col("_unknown"), "indicators: empty or naming an indicator not in the catalogue"),
            (~pl.col("code").is_first_distinct(), "code: listed twice"),
        ],
    )
    regime_rejections = [
        Rejection(code, reason, ledger.dumps(regimes[i]))
        for code, reason, i in bad.select("code", "_reason", "_i").iter_rows()
    ]
    valid_regimes = valid_regimes.with_columns(
        indicator_codes=pl.col("indicator_list").map_elements(
            lambda codes: ledger.dumps(list(codes)), return_dtype=pl.String
        )
    )
    return (
        valid_regimes.drop("_unknown", "_i"),
        regime_rejections,
        valid_indicators.drop("_i"),
        indicator_rejections,
        len(regimes),
        len(indicators),
    )


def _snapshot_ddl(warehouse: Warehouse, table: str, schema: pa.Schema, json_columns: tuple[str, ...]
                  ) -> None:  # fmt: skip
    json_type = "jsonb" if warehouse.dialect == "postgres" else "json"
    types = [(f.name, json_type if f.name in json_columns else SQL_TYPES[f.type]) for f in schema]
    ensure_raw_columns(warehouse, table, types)
    columns = ", ".join(f'"{name}" {kind}' for name, kind in types)
    warehouse.execute(
        f"create table if not exists {table} ({PROVINCE} varchar not null, {columns}, "
        "_run_id varchar not null, _loaded_at timestamp not null)"
    )


def _canonical(row: tuple, schema: pa.Schema, json_columns: tuple[str, ...]) -> tuple:
    values = []
    for f, value in zip(schema, row, strict=True):
        if f.name in json_columns and value is not None:
            value = json.dumps(json.loads(value) if isinstance(value, str) else value,
                               sort_keys=True, ensure_ascii=False)  # fmt: skip
        values.append(value)
    return tuple(values)


def _replace_snapshot(
    warehouse: Warehouse,
    run_id: str,
    table: str,
    schema: pa.Schema,
    json_columns: tuple[str, ...],
    frame: pl.DataFrame,
) -> tuple[int, int]:
    """Replace the snapshot when it changed; (rows new or changed, rows unchanged)."""
    names = [f.name for f in schema]
    new = [_canonical(r, schema, json_columns) for r in frame.select(names).iter_rows()]
    current = {_canonical(r, schema, json_columns) for r in snapshot_rows(warehouse, table, names)}
    unchanged = sum(row in current for row in new)
    if set(new) != current or len(new) != len(current):
        replace_snapshot(warehouse, table, frame.select(names).to_arrow().cast(schema), run_id)
    return len(new) - unchanged, unchanged


def ingest_catalogue(
    settings: Settings, warehouse: Warehouse, run_id: str
) -> tuple[list[IngestResult], pl.DataFrame, pl.DataFrame]:
    """Snapshot the regimes and indicators; returns the runs and the valid regimes, indicators."""
    started = time.monotonic()
    path = settings.reports_export_dir / CATALOGUE_FILE
    results = [IngestResult(s, run_id, "running") for s in (REGIMES_SOURCE, INDICATORS_SOURCE)]
    for result in results:
        ledger.start_run(warehouse, run_id, result.source, None)
    try:
        if not path.is_file():
            raise SourceError(f"{SOURCE}: no catalogue at {path}")
        lines = landing.lines_table(path.read_bytes().splitlines(), CATALOGUE_FILE)
        landing.land(settings, REGIMES_SOURCE, run_id, 0, lines)
        regimes, regime_rejections, indicators, indicator_rejections, n_regimes, n_indicators = (
            read_catalogue(path)
        )
        _snapshot_ddl(warehouse, REGIMES_TABLE, REGIMES_SCHEMA, REGIMES_JSON)
        _snapshot_ddl(warehouse, INDICATORS_TABLE, INDICATORS_SCHEMA, ())
        with warehouse.transaction():
            for result, table, schema, json_columns, frame, rejections, read in (
                (results[0], REGIMES_TABLE, REGIMES_SCHEMA, REGIMES_JSON, regimes,
                 regime_rejections, n_regimes),
                (results[1], INDICATORS_TABLE, INDICATORS_SCHEMA, (), indicators,
                 indicator_rejections, n_indicators),
            ):  # fmt: skip
                loaded, _unchanged = _replace_snapshot(
                    warehouse, run_id, table, schema, json_columns, frame
                )
                counts = RunCounts(read, loaded, len(rejections), read - loaded - len(rejections))
                ledger.reject(warehouse, run_id, result.source, rejections)
                ledger.add_to_run(warehouse, run_id, result.source, counts, None)
                result.counts = counts
    except Exception as error:
        for result in results:
            ledger.finish_run(warehouse, run_id, result.source, "failed", str(error)[:1000])
            result.status = "failed"
        raise
    for result in results:
        ledger.finish_run(warehouse, run_id, result.source, "success")
        result.status = "success"
        result.seconds = time.monotonic() - started
    return results, regimes, indicators
