"""Publish the declared open datasets to the CKAN portal. Entry point: :func:`publish_all`.

For each dbt exposure with ``meta.ckan`` (see :mod:`opendata.spec`):

1. read the declared columns of its mart (DuckDB serving copy, or PostgreSQL);
2. suppress small counts and the cells that would let them be recomputed
   (:mod:`opendata.privacy`);
3. write ``<slug>.csv`` (UTF-8), ``<slug>.parquet`` and ``<slug>.schema.json`` (Frictionless
   Table Schema) under ``$GOVDATA_HOME/opendata/<slug>/`` and scan them for personal data;
4. create or update the CKAN dataset (found by its slug) with DCAT metadata
   (:mod:`opendata.metadata`); create or update in place its three resources (found by their
   ``govdata_key``); load the CSV's rows into the DataStore with the data dictionary.

The publisher trusts what the portal serves, not its own records: every resource is
downloaded and hashed, and one that is missing (the portal lost its files, ``make clean``, a
second checkout) or differs is uploaded again. Re-publishing the same data changes nothing
(same ids, same ``modified``, no new activity); new data replaces the files and the DataStore
table in place and moves ``modified``. A dataset whose exposure was removed is kept unless
``prune``. A dataset that fails does not stop the others: the run raises
:class:`PublishIncomplete` naming what was and was not published, and the next run completes it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import polars as pl

from core.errors import PublishError
from core.settings import Settings
from opendata.ckan import CkanClient, PortalError
from opendata.extract import read_dataset
from opendata.files import DatasetFiles, field_types, table_schema, write_files
from opendata.metadata import dataset_metadata, extras_of, metadata_differs
from opendata.privacy import scan_files, suppress_small_counts
from opendata.spec import DatasetSpec, dataset_specs, load_manifest

log = logging.getLogger(__name__)

RESOURCE_KEYS = ("csv", "parquet", "table-schema")


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
    healed: list[str] = field(default_factory=list)  # keys re-uploaded: the portal lacked them
    datastore_loaded: bool = False
    files: DatasetFiles | None = None

    def summary(self) -> str:
        state = "created" if self.created else ("updated" if self.data_changed else "unchanged")
        if self.healed:
            state += f", re-uploaded {', '.join(self.healed)} (the portal did not serve them)"
        return (
            f"{self.name}: {state}, {self.rows} rows, {self.suppressed_cells} cells suppressed"
            f" ({self.suppressed_rows} rows) -> {self.url}"
        )


class PublishIncomplete(PublishError):
    """Some datasets were not published; the others were. Re-running completes the rest."""

    def __init__(
        self, published: list[PublishResult], failed: dict[str, str], pruned: list[str]
    ) -> None:
        self.published = published
        self.failed = failed
        self.pruned = pruned
        done = ", ".join(r.name for r in published) or "none"
        lines = "\n".join(f"  - {name}: {reason}" for name, reason in failed.items())
        super().__init__(
            f"{len(failed)} of {len(failed) + len(published)} datasets were NOT published:\n"
            f"{lines}\npublished: {done}\nrun the publish again to complete the rest"
        )


@dataclass
class PublishRun:
    published: list[PublishResult]
    pruned: list[str]  # datasets deleted because their exposure is gone (prune=True)
    orphans: list[str]  # datasets whose exposure is gone, kept (prune=False)


def publish_all(
    settings: Settings,
    manifest_path: Path | None = None,
    only: list[str] | None = None,
    client: CkanClient | None = None,
    out_dir: Path | None = None,
    prune: bool = False,
) -> list[PublishResult]:
    """Publish every dataset declared in the dbt manifest (or the ``only`` ones)."""
    return publish_run(settings, manifest_path, only, client, out_dir, prune).published


def publish_run(
    settings: Settings,
    manifest_path: Path | None = None,
    only: list[str] | None = None,
    client: CkanClient | None = None,
    out_dir: Path | None = None,
    prune: bool = False,
) -> PublishRun:
    """:func:`publish_all`, also telling which undeclared datasets were pruned or kept."""
    specs = dataset_specs(
        load_manifest(manifest_path), only=only, profile=settings.profile
    )  # refuses personal columns
    if not specs:
        log.warning("no exposure declares meta.ckan: nothing to publish")
        return PublishRun([], [], [])
    if client is None:
        client = CkanClient(settings.ckan_url, _api_token(settings))
    try:
        organization = client.organization_exists(settings.ckan_organization)
    except PortalError as error:
        raise PublishIncomplete([], {s.name: str(error) for s in specs}, []) from error
    if not organization:
        raise PublishError(
            f"organization {settings.ckan_organization!r} not found on {client.url}: "
            "start the local portal (it creates it) or set GOVDATA_CKAN_ORGANIZATION"
        )
    out_dir = out_dir or settings.home / "opendata"
    results: list[PublishResult] = []
    failed: dict[str, str] = {}
    for spec in specs:
        try:
            result = publish_dataset(settings, spec, client, out_dir / spec.name)
        except (PortalError, httpx.HTTPError) as error:
            log.error("%s: NOT published: %s", spec.name, error)
            failed[spec.name] = str(error)
            continue
        log.info("%s", result.summary())
        results.append(result)
    pruned: list[str] = []
    orphans: list[str] = []
    if only is None and not failed:
        orphans = undeclared_datasets(settings, client, {s.name for s in specs})
        if prune:
            for name in orphans:
                client.call("dataset_purge", {"id": name})
                log.info("%s: deleted (its exposure is gone; --prune)", name)
            pruned, orphans = orphans, []
        for name in orphans:
            log.warning("%s: no exposure declares it any more; kept (delete with --prune)", name)
    if failed:
        raise PublishIncomplete(results, failed, pruned)
    return PublishRun(results, pruned, orphans)


def undeclared_datasets(settings: Settings, client: CkanClient, declared: set[str]) -> list[str]:
    """The organization's datasets this publisher made whose exposure no longer declares them."""
    names: list[str] = []
    start = 0
    while True:
        page = client.search(
            fq=f'organization:"{settings.ckan_organization}"',
            rows=100,
            start=start,
            include_private=True,
        )
        for dataset in page["results"]:
            if "govdata_exposure" in extras_of(dataset) and dataset["name"] not in declared:
                names.append(dataset["name"])
        start += 100
        if start >= page["count"]:
            return sorted(names)


def _api_token(settings: Settings) -> str:
    token = settings.ckan_token()
    if not token:
        raise PublishError(
            "no CKAN API token: set GOVDATA_CKAN_API_TOKEN, or start the local portal, "
            f"which writes one to {settings.home / 'ckan' / 'api_token'}"
        )
    return token


def prepare_files(
    settings: Settings, spec: DatasetSpec, out_dir: Path
) -> tuple[pl.DataFrame, dict[str, Any], DatasetFiles, Any]:
    """Read, suppress, write and scan one dataset's files (what both the portal and the
    offline package publish)."""
    min_count = settings.opendata_min_cell_count
    raw = read_dataset(settings, spec)
    suppressed = suppress_small_counts(raw, spec.ckan.suppress, min_count)
    frame = suppressed.frame
    schema = table_schema(spec, frame, min_count)
    files = write_files(spec, frame, schema, out_dir)
    scan_files(spec, files)  # a personal-data hit stops the publish, naming the column
    return frame, schema, files, suppressed


def publish_dataset(
    settings: Settings, spec: DatasetSpec, client: CkanClient, out_dir: Path
) -> PublishResult:
    frame, schema, files, suppressed = prepare_files(settings, spec, out_dir)
    hashes = files.hashes()

    existing = client.dataset(spec.name)
    if existing and existing.get("state") == "deleted":
        raise PortalError(
            f"dataset {spec.name!r} exists on the portal in the trash: purge or restore it"
        )
    owner = extras_of(existing).get("govdata_exposure")
    if existing and owner not in (None, spec.exposure):
        raise PortalError(
            f"dataset {spec.name!r} on the portal is published by exposure {owner!r}, "
            f"not {spec.exposure!r}: dataset slugs must be unique"
        )
    old_resources = _resources_by_key(existing)
    # ``modified`` follows the data, not the portal's health: a re-upload of the same bytes
    # (healing a lost file) is not a change.
    data_changed = existing is None or any(
        old_resources.get(key, {}).get("hash") != value for key, value in hashes.items()
    )
    metadata = dataset_metadata(settings, spec, frame, suppressed, existing, data_changed)
    if existing is None:
        dataset = client.create_dataset(metadata)
    elif metadata_differs(existing, metadata):
        dataset = client.patch_dataset(existing["id"], metadata)
    else:
        dataset = existing

    resources, healed = _upsert_resources(client, spec, dataset["id"], old_resources, files, hashes)
    csv_resource = resources["csv"]
    loaded = False
    if data_changed or not _datastore_complete(client, csv_resource, frame.height):
        client.replace_datastore(
            csv_resource["id"],
            datastore_fields(spec, frame, schema),
            _records(frame),
            primary_key=list(spec.ckan.primary_key) or None,
        )
        loaded = True
    _ensure_table_view(client, csv_resource["id"])

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
        healed=healed,
        datastore_loaded=loaded,
        files=files,
    )


def _ensure_table_view(client: CkanClient, resource_id: str) -> None:
    """A table view of the DataStore on the CSV's page. CKAN makes default views when the
    resource is created, before its DataStore table exists, so it skips this one."""
    views = client.call("resource_view_list", {"id": resource_id})
    if not any(view["view_type"] == "datatables_view" for view in views):
        client.call(
            "resource_view_create",
            {
                "resource_id": resource_id,
                "view_type": "datatables_view",
                "title": "Bảng dữ liệu / Data table",
            },
        )


def _datastore_complete(client: CkanClient, resource: dict[str, Any], rows: int) -> bool:
    """The resource's DataStore table exists and holds every row (a run that failed while
    loading it left it short)."""
    if not resource.get("datastore_active"):
        return False
    try:
        found = client.call("datastore_search", {"resource_id": resource["id"], "limit": 0})
    except PortalError:
        return False
    return int(found.get("total", -1)) == rows


def served_hash(client: CkanClient, url: str) -> str | None:
    """SHA-256 of what the portal serves at ``url``, or None when it does not serve it."""
    try:
        with httpx.stream("GET", url, timeout=client.timeout, follow_redirects=True) as response:
            if response.status_code != 200:
                log.warning("%s answers HTTP %s", url, response.status_code)
                return None
            digest = hashlib.sha256()
            for chunk in response.iter_bytes():
                digest.update(chunk)
            return digest.hexdigest()
    except httpx.TransportError as error:
        raise PortalError(f"{url}: cannot download: {error}") from error


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
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Create or update the three resources; return them and the keys whose file had to be
    uploaded again because the portal did not serve the recorded bytes."""
    result: dict[str, dict[str, Any]] = {}
    healed: list[str] = []
    for key in RESOURCE_KEYS:
        fields, path = resource_fields(spec, key, files)
        fields = {**fields, "govdata_key": key, "hash": hashes[key]}
        if key != "table-schema" and "table-schema" in old:
            fields["schema"] = old["table-schema"]["url"]
        current = old.get(key)
        if current is None:
            result[key] = client.create_resource(dataset_id, fields, path)
        elif current.get("hash") != hashes[key]:
            result[key] = client.patch_resource(current["id"], fields, path)
        elif served_hash(client, current["url"]) != hashes[key]:
            log.warning("%s: the portal does not serve %s: uploading it again", spec.name, key)
            result[key] = client.patch_resource(current["id"], fields, path)
            healed.append(key)
        elif any(current.get(k) != v for k, v in fields.items()):
            result[key] = client.patch_resource(current["id"], fields, None)
        else:
            result[key] = current
    schema_url = result["table-schema"]["url"]
    for key in ("csv", "parquet"):  # link the data files to their Table Schema
        if result[key].get("schema") != schema_url:
            result[key] = client.patch_resource(result[key]["id"], {"schema": schema_url}, None)
    return result, healed


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
