"""Publish the declared open datasets to the CKAN portal. Entry point: :func:`publish_all`.

For each dbt exposure with ``meta.ckan`` (see :mod:`opendata.spec`):

1. read the declared columns of its mart (DuckDB serving copy, or PostgreSQL);
2. suppress small counts (``GOVDATA_OPENDATA_MIN_CELL_COUNT``) and the values computed
   from them;
3. write ``<slug>.csv`` (UTF-8), ``<slug>.parquet`` and ``<slug>.schema.json`` (Frictionless
   Table Schema) under ``$GOVDATA_HOME/opendata/<slug>/``;
4. create or update the CKAN dataset (found by its slug) with DCAT-style metadata in the
   fields ckanext-dcat reads; create or update in place its three resources (found by their
   ``govdata_key``), uploading a file only when its SHA-256 changed; load the CSV's rows
   into the DataStore with the data dictionary (``info.label``/``info.notes``).

Re-publishing the same data changes nothing on the portal (same dataset id, same resources,
same ``modified`` date); new data replaces the files and the DataStore table in place.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from core.errors import PublishError
from core.settings import Settings
from opendata.ckan import CkanClient, PortalError
from opendata.extract import read_dataset, suppress_small_counts
from opendata.files import DatasetFiles, field_types, table_schema, write_files
from opendata.spec import DatasetSpec, dataset_specs, load_manifest

log = logging.getLogger(__name__)

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
EU_THEME = "http://publications.europa.eu/resource/authority/data-theme/"
EU_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
#: DCAT-AP data themes (EU vocabulary) by plain name.
THEMES = {
    "agriculture": "AGRI",
    "economy": "ECON",
    "education": "EDUC",
    "energy": "ENER",
    "environment": "ENVI",
    "government": "GOVE",
    "health": "HEAL",
    "international": "INTR",
    "justice": "JUST",
    "regions": "REGI",
    "science": "TECH",
    "society": "SOCI",
    "transport": "TRAN",
}
FREQUENCIES = {
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "annual": "ANNUAL",
    "yearly": "ANNUAL",
    "irregular": "IRREG",
    "continuous": "UPDATE_CONT",
}
#: Extras this publisher owns on a dataset (others, set by hand on the portal, are kept).
MANAGED_EXTRAS = (
    "theme",
    "frequency",
    "language",
    "spatial_text",
    "spatial_uri",
    "temporal_start",
    "temporal_end",
    "issued",
    "modified",
    "publisher_name",
    "publisher_email",
    "contact_name",
    "contact_email",
    "provenance",
    "identifier",
    "govdata_exposure",
    "govdata_model",
)


@dataclass
class PublishResult:
    name: str
    title: str
    dataset_id: str
    url: str
    rows: int
    suppressed_cells: int
    suppressed_rows: int
    created: bool
    data_changed: bool
    resources: dict[str, str] = field(default_factory=dict)  # govdata_key -> resource id
    files: DatasetFiles | None = None

    def summary(self) -> str:
        state = "created" if self.created else ("updated" if self.data_changed else "unchanged")
        return (
            f"{self.name}: {state}, {self.rows} rows, {self.suppressed_cells} cells suppressed"
            f" ({self.suppressed_rows} rows) -> {self.url}"
        )


def publish_all(
    settings: Settings,
    manifest_path: Path | None = None,
    only: list[str] | None = None,
    client: CkanClient | None = None,
    out_dir: Path | None = None,
) -> list[PublishResult]:
    """Publish every dataset declared in the dbt manifest (or the ``only`` ones)."""
    specs = dataset_specs(
        load_manifest(manifest_path), only=only, profile=settings.profile
    )  # refuses personal columns
    if not specs:
        log.warning("no exposure declares meta.ckan: nothing to publish")
        return []
    if client is None:
        client = CkanClient(settings.ckan_url, _api_token(settings))
    if not client.organization_exists(settings.ckan_organization):
        raise PublishError(
            f"organization {settings.ckan_organization!r} not found on {client.url}: "
            "start the local portal (it creates it) or set GOVDATA_CKAN_ORGANIZATION"
        )
    out_dir = out_dir or settings.home / "opendata"
    results = []
    for spec in specs:
        result = publish_dataset(settings, spec, client, out_dir / spec.name)
        log.info("%s", result.summary())
        results.append(result)
    return results


def _api_token(settings: Settings) -> str:
    token = settings.ckan_token()
    if not token:
        raise PublishError(
            "no CKAN API token: set GOVDATA_CKAN_API_TOKEN, or start the local portal, "
            f"which writes one to {settings.home / 'ckan' / 'api_token'}"
        )
    return token


def publish_dataset(
    settings: Settings, spec: DatasetSpec, client: CkanClient, out_dir: Path
) -> PublishResult:
    min_count = settings.opendata_min_cell_count
    raw = read_dataset(settings, spec)
    suppressed = suppress_small_counts(raw, spec.ckan.suppress, min_count)
    frame = suppressed.frame
    schema = table_schema(spec, frame, min_count)
    files = write_files(spec, frame, schema, out_dir)
    hashes = files.hashes()

    existing = client.dataset(spec.name)
    if existing and existing.get("state") == "deleted":
        raise PortalError(
            f"dataset {spec.name!r} exists on the portal in the trash: purge or restore it"
        )
    owner = _extras(existing).get("govdata_exposure")
    if existing and owner not in (None, spec.exposure):
        raise PortalError(
            f"dataset {spec.name!r} on the portal is published by exposure {owner!r}, "
            f"not {spec.exposure!r}: dataset slugs must be unique"
        )
    old_resources = _resources_by_key(existing)
    data_changed = existing is None or any(
        old_resources.get(key, {}).get("hash") != value for key, value in hashes.items()
    )
    metadata = dataset_metadata(settings, spec, frame, existing, data_changed)
    if existing is None:
        dataset = client.create_dataset(metadata)
    elif _metadata_differs(existing, metadata):
        dataset = client.patch_dataset(existing["id"], metadata)
    else:
        dataset = existing

    resources = _upsert_resources(client, spec, dataset["id"], old_resources, files, hashes)
    csv_resource = resources["csv"]
    if data_changed or not csv_resource.get("datastore_active"):
        client.replace_datastore(
            csv_resource["id"],
            datastore_fields(spec, frame, schema),
            _records(frame),
            primary_key=list(spec.ckan.primary_key) or None,
        )

    return PublishResult(
        name=spec.name,
        title=spec.ckan.title,
        dataset_id=dataset["id"],
        url=f"{client.url}/dataset/{spec.name}",
        rows=frame.height,
        suppressed_cells=suppressed.cells,
        suppressed_rows=suppressed.rows,
        created=existing is None,
        data_changed=data_changed,
        resources={key: res["id"] for key, res in resources.items()},
        files=files,
    )


# -- metadata ---------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(TIMEZONE).isoformat(timespec="seconds")


def _extras(dataset: dict[str, Any] | None) -> dict[str, str]:
    return {e["key"]: e["value"] for e in (dataset or {}).get("extras", [])}


def temporal_coverage(spec: DatasetSpec, frame: pl.DataFrame) -> tuple[str, str] | None:
    """First and last day the rows cover, from the temporal (or first date) column."""
    column = spec.ckan.temporal_column or next(
        (c for c in spec.ckan.columns if frame.schema[c] == pl.Date), None
    )
    if column is None or frame.is_empty():
        return None
    values = frame[column].drop_nulls()
    if values.is_empty():
        return None
    start, end = values.min(), values.max()
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        return None
    if spec.ckan.frequency == "monthly" and bool((values.dt.day() == 1).all()):
        end = end.replace(day=calendar.monthrange(end.year, end.month)[1])
    return start.isoformat(), end.isoformat()


def dataset_notes(settings: Settings, spec: DatasetSpec) -> str:
    parts = [spec.ckan.notes or spec.description or spec.label]
    parts.append(f"**Nguồn dữ liệu:** mô hình `{spec.model}` của kho dữ liệu tỉnh (dbt).")
    if spec.ckan.suppress and settings.opendata_min_cell_count > 0:
        hidden = ", ".join(
            f"`{c}`"
            for c in (*spec.ckan.suppress.count_columns, *spec.ckan.suppress.dependent_columns)
        )
        parts.append(
            "**Bảo vệ dữ liệu cá nhân:** chỉ công bố số liệu tổng hợp; khi một số đếm nhỏ hơn "
            f"{settings.opendata_min_cell_count}, các ô {hidden} của dòng đó được để trống."
        )
    parts.append(
        "**Từ điển dữ liệu:** tệp `.schema.json` (Frictionless Table Schema) và mục "
        "“Data Dictionary” của tài nguyên CSV."
    )
    return "\n\n".join(parts)


def dataset_metadata(
    settings: Settings,
    spec: DatasetSpec,
    frame: pl.DataFrame,
    existing: dict[str, Any] | None,
    data_changed: bool,
) -> dict[str, Any]:
    """The dataset's CKAN fields, DCAT extras in the keys ckanext-dcat reads."""
    old = _extras(existing)
    now = _now()
    ours: dict[str, str | None] = {
        "identifier": spec.name,
        "theme": _vocabulary(spec.ckan.theme, THEMES, EU_THEME),
        "frequency": _vocabulary(spec.ckan.frequency, FREQUENCIES, EU_FREQUENCY),
        "language": spec.ckan.language,
        "spatial_text": spec.ckan.spatial,
        "spatial_uri": spec.ckan.spatial_uri,
        "issued": old.get("issued") or now,
        "modified": now if data_changed or "modified" not in old else old["modified"],
        "publisher_name": settings.ckan_organization_title,
        "publisher_email": spec.owner.email,
        "contact_name": spec.owner.name,
        "contact_email": spec.owner.email,
        "provenance": f"dbt model {spec.model} ({spec.schema}.{spec.relation})",
        "govdata_exposure": spec.exposure,
        "govdata_model": spec.model,
    }
    coverage = temporal_coverage(spec, frame)
    if coverage:
        ours["temporal_start"], ours["temporal_end"] = coverage
    kept = {k: v for k, v in old.items() if k not in MANAGED_EXTRAS}
    extras = {**kept, **{k: v for k, v in ours.items() if v}}
    return {
        "name": spec.name,
        "title": spec.ckan.title,
        "notes": dataset_notes(settings, spec),
        "owner_org": settings.ckan_organization,
        "private": False,
        "license_id": spec.ckan.license_id or settings.opendata_licence,
        "author": settings.ckan_organization_title,
        "author_email": spec.owner.email,
        "maintainer": spec.owner.name,
        "maintainer_email": spec.owner.email,
        "tags": [{"name": tag} for tag in spec.ckan.tags],
        "extras": [{"key": k, "value": v} for k, v in sorted(extras.items())],
    }


def _metadata_differs(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether a ``package_patch`` would change anything (so a no-op publish stays one)."""
    for key, value in wanted.items():
        if key == "owner_org":
            current = (existing.get("organization") or {}).get("name")
        elif key == "tags":
            current = [{"name": t["name"]} for t in existing.get("tags", [])]
            current, value = sorted(t["name"] for t in current), sorted(t["name"] for t in value)
        elif key == "extras":
            current, value = _extras(existing), {e["key"]: e["value"] for e in value}
        else:
            current = existing.get(key)
        if (current or None) != (value or None):
            log.debug("dataset %s: %s changed", wanted["name"], key)
            return True
    return False


def _vocabulary(value: str | None, codes: dict[str, str], base: str) -> str | None:
    if not value:
        return None
    if value.startswith(("http://", "https://")):
        return value
    code = codes.get(value.lower(), value.upper() if value.isupper() else None)
    return base + code if code else value


# -- resources --------------------------------------------------------------------------------


def _resources_by_key(dataset: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for resource in (dataset or {}).get("resources", []):
        key = resource.get("govdata_key")
        if key and key not in found:
            found[key] = resource
    return found


def resource_fields(
    spec: DatasetSpec, key: str, files: DatasetFiles
) -> tuple[dict[str, Any], Path]:
    title = spec.ckan.title
    if key == "csv":
        return {
            "name": f"{spec.name}.csv",
            "description": f"{title} — CSV, mã hoá UTF-8, dấu phẩy phân cách.",
            "format": "CSV",
            "mimetype": "text/csv",
        }, files.csv
    if key == "parquet":
        return {
            "name": f"{spec.name}.parquet",
            "description": f"{title} — Apache Parquet (kiểu dữ liệu và mô tả cột kèm theo).",
            "format": "Parquet",
            "mimetype": "application/vnd.apache.parquet",
        }, files.parquet
    return {
        "name": f"{spec.name}.schema.json",
        "description": "Từ điển dữ liệu: Frictionless Table Schema của tệp CSV và Parquet.",
        "format": "JSON",
        "mimetype": "application/json",
        "resource_type": "documentation",
    }, files.table_schema


def _upsert_resources(
    client: CkanClient,
    spec: DatasetSpec,
    dataset_id: str,
    old: dict[str, dict[str, Any]],
    files: DatasetFiles,
    hashes: dict[str, str],
) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for key in ("csv", "parquet", "table-schema"):
        fields, path = resource_fields(spec, key, files)
        fields = {**fields, "govdata_key": key, "hash": hashes[key]}
        if key != "table-schema" and "table-schema" in old:
            fields["schema"] = old["table-schema"]["url"]
        current = old.get(key)
        if current is None:
            result[key] = client.create_resource(dataset_id, fields, path)
        elif current.get("hash") != hashes[key]:
            result[key] = client.patch_resource(current["id"], fields, path)
        elif any(current.get(k) != v for k, v in fields.items()):
            result[key] = client.patch_resource(current["id"], fields, None)
        else:
            result[key] = current
    schema_url = result["table-schema"]["url"]
    for key in ("csv", "parquet"):  # link the data files to their Table Schema
        if result[key].get("schema") != schema_url:
            result[key] = client.patch_resource(result[key]["id"], {"schema": schema_url}, None)
    return result


# -- DataStore --------------------------------------------------------------------------------


def datastore_fields(
    spec: DatasetSpec, frame: pl.DataFrame, schema: dict[str, Any]
) -> list[dict[str, Any]]:
    """DataStore fields with CKAN's data dictionary ``info`` (label, notes, type_override)."""
    docs = {f["name"]: f for f in schema["fields"]}
    fields = []
    for column in spec.columns:
        _, datastore_type = field_types(frame.schema[column.name])
        fields.append(
            {
                "id": column.name,
                "type": datastore_type,
                "info": {
                    "label": column.label,
                    "notes": docs[column.name]["description"],
                    "type_override": datastore_type,
                },
            }
        )
    return fields


def _records(frame: pl.DataFrame) -> Iterator[dict[str, Any]]:
    for row in frame.iter_rows(named=True):
        out: dict[str, Any] = {}
        for key, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                value = None
            elif isinstance(value, dt.date | dt.datetime | dt.time):
                value = value.isoformat()
            out[key] = value
        yield out
