"""The offline open-data package: the declared datasets as a Frictionless Data Package.

``govdata publish --to DIR`` writes, for portals we do not run::

    DIR/datapackage.json            the descriptor: every dataset a tabular data resource
                                    (inline Table Schema), licence, publisher, coverage
    DIR/data/<slug>.csv             the same bytes the portal serves (suppressed, scanned)
    DIR/data/<slug>.parquet         the same rows, typed, with the column docs inside
    DIR/data/<slug>.schema.json     the Table Schema on its own

``frictionless validate DIR/datapackage.json`` accepts it (tests/test_opendata_package.py).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from core.settings import Settings
from opendata.metadata import dataset_notes, temporal_coverage
from opendata.publish import prepare_files
from opendata.spec import dataset_specs, load_manifest

#: Licence ids of the portal (services/ckan/licenses.json) as Open Definition licences.
LICENCES = {
    "cc-by": {
        "name": "CC-BY-4.0",
        "path": "https://creativecommons.org/licenses/by/4.0/",
        "title": "Creative Commons Attribution 4.0",
    },
    "odc-by": {
        "name": "ODC-By-1.0",
        "path": "https://opendatacommons.org/licenses/by/1-0/",
        "title": "Open Data Commons Attribution License 1.0",
    },
    "cc-zero": {
        "name": "CC0-1.0",
        "path": "https://creativecommons.org/publicdomain/zero/1.0/",
        "title": "CC0 1.0",
    },
}


def write_package(settings: Settings, directory: Path, manifest_path: Path | None = None) -> Path:
    """Write every declared dataset under ``directory``; return ``datapackage.json``."""
    specs = dataset_specs(load_manifest(manifest_path), profile=settings.profile)
    data_dir = directory / "data"
    resources: list[dict[str, Any]] = []
    licences: dict[str, dict[str, str]] = {}
    for spec in specs:
        frame, schema, files, suppressed = prepare_files(settings, spec, data_dir)
        licence_id = spec.ckan.license_id or settings.opendata_licence
        licence = LICENCES.get(licence_id, {"name": licence_id, "title": licence_id})
        licences[licence["name"]] = licence
        resource: dict[str, Any] = {
            "name": spec.name,
            "path": f"data/{files.csv.name}",
            "profile": "tabular-data-resource",
            "title": spec.ckan.title,
            "description": dataset_notes(settings, spec, suppressed),
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "schema": schema,
            "licenses": [licence],
            "keywords": list(spec.ckan.tags),
            "govdata": {
                "title_en": spec.label,
                "model": spec.model,
                "rows": frame.height,
                "parquet": f"data/{files.parquet.name}",
                "table_schema": f"data/{files.table_schema.name}",
            },
        }
        coverage = temporal_coverage(spec, frame)
        if coverage:
            resource["govdata"]["temporal"] = {"start": coverage[0], "end": coverage[1]}
        resources.append(resource)
    profile = settings.profile
    descriptor = {
        "profile": "tabular-data-package",
        "name": f"{settings.ckan_organization}-open-data",
        "title": settings.ckan_site_title,
        "description": (
            f"Dữ liệu mở của {settings.ckan_organization_title}: số liệu tổng hợp, đã ẩn số "
            "nhỏ. Open data of the province: aggregates only, small counts suppressed."
        ),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "licenses": list(licences.values()),
        "contributors": [
            {"title": settings.ckan_organization_title, "role": "publisher"},
            {"title": profile.data_team, "email": profile.contact_email, "role": "maintainer"},
        ],
        "keywords": sorted({tag for spec in specs for tag in spec.ckan.tags}),
        "resources": resources,
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "datapackage.json"
    path.write_text(json.dumps(descriptor, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
