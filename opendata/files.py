"""The files of a published dataset: CSV, Parquet and its Frictionless Table Schema."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from opendata.spec import DatasetSpec


def field_types(dtype: pl.DataType) -> tuple[str, str]:
    """``(Table Schema type, CKAN DataStore type)`` of a polars column type."""
    if dtype.is_integer():
        return "integer", "int8"
    if dtype.is_float() or dtype.is_decimal():
        return "number", "float8"
    if dtype == pl.Boolean:
        return "boolean", "bool"
    if dtype == pl.Date:
        return "date", "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime", "timestamp"
    if dtype == pl.Time:
        return "time", "time"
    return "string", "text"


@dataclass(frozen=True)
class DatasetFiles:
    csv: Path
    parquet: Path
    table_schema: Path

    def hashes(self) -> dict[str, str]:
        return {
            "csv": sha256(self.csv),
            "parquet": sha256(self.parquet),
            "table-schema": sha256(self.table_schema),
        }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def table_schema(spec: DatasetSpec, frame: pl.DataFrame, min_count: int) -> dict[str, Any]:
    """The Frictionless Table Schema (data dictionary) of the published table."""
    suppressed = set()
    if spec.ckan.suppress:
        suppressed = set(spec.ckan.suppress.count_columns) | set(
            spec.ckan.suppress.dependent_columns
        )
    fields: list[dict[str, Any]] = []
    for column in spec.columns:
        schema_type, _ = field_types(frame.schema[column.name])
        description = column.bilingual
        if column.name in suppressed and min_count > 0:
            description += (
                f" Để trống khi bị ẩn để bảo vệ dữ liệu cá nhân (số đếm lớn hơn 0 và nhỏ hơn "
                f"{min_count}, hoặc ô ẩn bổ sung). / Empty when suppressed for privacy (a count "
                f"above 0 and below {min_count}, or a complementary cell)."
            )
        field: dict[str, Any] = {
            "name": column.name,
            "title": column.label,
            "type": schema_type,
            "description": description,
        }
        if column.unit:
            field["unit"] = column.unit
        if column.name in spec.ckan.primary_key:
            field["constraints"] = {"required": True}
        fields.append(field)
    schema: dict[str, Any] = {"fields": fields, "missingValues": [""]}
    if spec.ckan.primary_key:
        schema["primaryKey"] = list(spec.ckan.primary_key)
    return schema


def write_files(
    spec: DatasetSpec, frame: pl.DataFrame, schema: dict[str, Any], out_dir: Path
) -> DatasetFiles:
    """Write ``<slug>.csv`` (UTF-8), ``<slug>.parquet`` and ``<slug>.schema.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = DatasetFiles(
        csv=out_dir / f"{spec.name}.csv",
        parquet=out_dir / f"{spec.name}.parquet",
        table_schema=out_dir / f"{spec.name}.schema.json",
    )
    frame.write_csv(files.csv, date_format="%Y-%m-%d", null_value="")

    # Parquet keeps the data dictionary in the file: column descriptions as field metadata.
    table = frame.to_arrow()
    docs = {f["name"]: f for f in schema["fields"]}
    arrow_fields = [
        field.with_metadata(
            {
                b"description": docs[field.name]["description"].encode(),
                b"title": docs[field.name]["title"].encode(),
            }
        )
        for field in table.schema
    ]
    table = table.cast(
        pa.schema(
            arrow_fields,
            metadata={b"title": spec.ckan.title.encode(), b"source": spec.model.encode()},
        )
    )
    pq.write_table(table, files.parquet, compression="snappy")

    files.table_schema.write_text(
        json.dumps(schema, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return files
