"""The open-data catalogue end to end, against a real local CKAN and a warehouse built from the
simulated province: every dataset the exposures declare is on the portal; every resource
downloads (HTTP 200) and equals the mart after parsing; the DataStore answers; the catalogue is
served as DCAT and parses with rdflib; republishing is a no-op; a portal cleaned together
(databases and files) is healed by the next publish.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pyarrow.parquet as pq
import pytest
import rdflib
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF

from core.settings import Settings
from govdata import pipeline
from govdata.services import free_port
from govdata.services.ckan import CkanError, CkanPortal
from govdata.simulation import sources_for
from opendata.ckan import CkanClient
from opendata.extract import read_dataset
from opendata.metadata import EU_FREQUENCY, EU_THEME
from opendata.privacy import suppress_small_counts
from opendata.publish import PublishResult, publish_all
from opendata.spec import DatasetSpec, dataset_specs, load_manifest
from transform.dbt import DBT_PROJECT_DIR

pytestmark = [pytest.mark.timeout(1500), pytest.mark.slow]

VCARD = rdflib.Namespace("http://www.w3.org/2006/vcard/ns#")
EXPECTED = {
    "chi-so-766-theo-don-vi-va-thang",
    "diem-chi-so-766-theo-don-vi-va-thang",
    "danh-muc-thu-tuc-hanh-chinh",
    "ho-so-theo-linh-vuc-kenh-va-thang",
    "van-ban-dien-tu-theo-co-quan-va-thang",
    "bao-cao-dung-han-theo-co-quan-va-che-do",
    "bang-chuyen-doi-don-vi-hanh-chinh-2025",
    "danh-muc-don-vi-hanh-chinh-hien-hanh",
    "tien-do-muc-tieu-chinh-quyen-so-2025-2030",
    "xep-hang-chi-so-766-cac-tinh-thanh-pho",
}


@pytest.fixture(scope="module")
def catalogue(
    tmp_path_factory: pytest.TempPathFactory, small_sources: Path
) -> Iterator[tuple[CkanPortal, list[DatasetSpec], list[PublishResult]]]:
    home = tmp_path_factory.mktemp("catalogue-home")
    (home / "sources").symlink_to(small_sources, target_is_directory=True)
    tag = f"gdcat_{uuid.uuid4().hex[:8]}"
    settings = Settings(
        home=home,
        target="duckdb",
        ckan_url=f"http://127.0.0.1:{free_port()}",
        ckan_db_url=f"postgresql://{tag}@127.0.0.1:5432/{tag}",
        ckan_datastore_write_url=f"postgresql://{tag}@127.0.0.1:5432/{tag}_datastore",
        ckan_datastore_read_url=f"postgresql://{tag}_ro@127.0.0.1:5432/{tag}_datastore",
        ckan_redis_url="redis://127.0.0.1:6379/12",
    )
    with sources_for(settings) as reading:
        pipeline.ingest(reading)
    pipeline.build(settings)
    portal = CkanPortal(settings)
    try:
        try:
            portal.up(timeout=180)
        except CkanError as error:
            pytest.fail(f"the local CKAN portal could not start: {error}", pytrace=False)
        specs = dataset_specs(load_manifest(), profile=settings.profile)
        yield portal, specs, publish_all(settings)
    finally:
        portal.stop()
        portal.drop_databases(drop_roles=True)


def anonymous(settings: Settings) -> CkanClient:
    return CkanClient(settings.ckan_url, api_token=None)


def expected_frame(settings: Settings, spec: DatasetSpec) -> pl.DataFrame:
    """The mart's declared columns after suppression: what the files must hold."""
    raw = read_dataset(settings, spec)
    return suppress_small_counts(raw, spec.ckan.suppress, settings.opendata_min_cell_count).frame


def test_every_declared_dataset_downloads_and_equals_its_mart(catalogue: Any) -> None:
    portal, specs, results = catalogue
    settings: Settings = portal.settings
    assert {s.name for s in specs} == EXPECTED
    assert {r.name for r in results} == EXPECTED
    public = anonymous(settings)
    for spec in specs:
        dataset = public.dataset(spec.name)
        assert dataset, spec.name
        assert dataset["title"] == spec.ckan.title and settings.profile.name in dataset["title"]
        assert "English" in dataset["notes"]
        mart = expected_frame(settings, spec)
        assert mart.height > 0, f"{spec.name}: the mart is empty"
        resources = {r["govdata_key"]: r for r in dataset["resources"]}
        assert set(resources) == {"csv", "parquet", "table-schema"}
        downloaded = {}
        for key, resource in resources.items():
            response = httpx.get(resource["url"], follow_redirects=True, timeout=60)
            assert response.status_code == 200, (spec.name, key)
            downloaded[key] = response.content
        schema = json.loads(downloaded["table-schema"])
        assert [f["name"] for f in schema["fields"]] == list(spec.ckan.columns)
        parquet = pl.from_arrow(pq.read_table(io.BytesIO(downloaded["parquet"])))
        assert isinstance(parquet, pl.DataFrame)
        assert parquet.equals(mart), spec.name
        typed = {
            f["name"]: mart.schema[f["name"]] for f in schema["fields"]
        }  # parse the CSV with the mart's types
        text = pl.read_csv(io.BytesIO(downloaded["csv"]), infer_schema=False)
        parsed = text.with_columns(
            [
                (pl.col(c).str.to_lowercase() == "true").alias(c)
                if t == pl.Boolean
                else pl.col(c).str.to_date()
                if t == pl.Date
                else pl.col(c).cast(t)
                for c, t in typed.items()
            ]
        )
        assert parsed.equals(mart), spec.name
        rows = list(csv.reader(io.StringIO(downloaded["csv"].decode("utf-8"))))
        assert rows[0] == list(spec.ckan.columns) and len(rows) == mart.height + 1
        # DataStore: every row, searchable, with the bilingual data dictionary
        found = public.call("datastore_search", {"resource_id": resources["csv"]["id"], "limit": 1})
        assert found["total"] == mart.height
        info = public.call("datastore_info", {"id": resources["csv"]["id"]})
        for field in info["fields"]:
            assert field["info"]["label"] and " — " in field["info"]["notes"], field


def test_no_small_count_is_published(catalogue: Any) -> None:
    portal, specs, _ = catalogue
    minimum = portal.settings.opendata_min_cell_count
    for spec in specs:
        if not spec.ckan.suppress:
            continue
        frame = expected_frame(portal.settings, spec)
        raw = read_dataset(portal.settings, spec)
        for column in spec.ckan.suppress.count_columns:
            values = frame[column].drop_nulls()
            assert ((values == 0) | (values >= minimum)).all(), (spec.name, column)
            if not spec.ckan.suppress.complementary_by:
                continue
            # a group adding up to a published total never hides exactly one cell next to
            # published ones (a lone cell with nothing beside it is its own total: hidden)
            groups = (
                frame.with_columns(
                    hidden=pl.col(column).is_null() & raw[column].is_not_null(),
                    shown=pl.col(column).is_not_null(),
                )
                .group_by(spec.ckan.suppress.complementary_by)
                .agg(pl.col("hidden").sum(), pl.col("shown").sum())
            )
            recoverable = groups.filter((pl.col("hidden") == 1) & (pl.col("shown") > 0))
            assert recoverable.is_empty(), (spec.name, column, recoverable.head())


def test_datastore_search_finds_a_commune(catalogue: Any) -> None:
    portal, _, results = catalogue
    result = next(r for r in results if r.name == "danh-muc-don-vi-hanh-chinh-hien-hanh")
    found = anonymous(portal.settings).call(
        "datastore_search",
        {"resource_id": result.resources["csv"], "filters": {"unit_level": "province"}},
    )
    assert [r["unit_code"] for r in found["records"]] == [portal.settings.province_code]
    text = anonymous(portal.settings).call(
        "datastore_search", {"resource_id": result.resources["csv"], "q": "Phường"}
    )
    assert text["total"] > 0


def test_dcat_catalogue_and_datasets_parse_with_rdflib(catalogue: Any) -> None:
    portal, specs, _ = catalogue
    settings: Settings = portal.settings
    catalog = rdflib.Graph().parse(
        data=httpx.get(f"{settings.ckan_url}/catalog.ttl", timeout=60).text, format="turtle"
    )
    (root,) = list(catalog.subjects(RDF.type, DCAT.Catalog))
    listed = set(catalog.objects(root, DCAT.dataset))
    assert len(listed) == len(specs)

    spec = next(s for s in specs if s.name == "chi-so-766-theo-don-vi-va-thang")
    for suffix, fmt in ((".rdf", "xml"), (".ttl", "turtle"), (".jsonld", "json-ld")):
        response = httpx.get(f"{settings.ckan_url}/dataset/{spec.name}{suffix}", timeout=60)
        assert response.status_code == 200, suffix
        graph = rdflib.Graph().parse(data=response.text, format=fmt)
        (dataset,) = list(graph.subjects(RDF.type, DCAT.Dataset))
        assert str(graph.value(dataset, DCTERMS.title)) == spec.ckan.title
        publisher = graph.value(dataset, DCTERMS.publisher)
        assert str(graph.value(publisher, FOAF.name)) == settings.ckan_organization_title
        contact = graph.value(dataset, DCAT.contactPoint)
        assert str(graph.value(contact, VCARD.hasEmail)).endswith(settings.profile.contact_email)
        assert (dataset, DCAT.theme, rdflib.URIRef(EU_THEME + "GOVE")) in graph
        assert graph.value(dataset, DCTERMS.accrualPeriodicity) == rdflib.URIRef(
            EU_FREQUENCY + "MONTHLY"
        )
        spatial = graph.value(dataset, DCTERMS.spatial)
        assert spatial is not None and settings.profile.name in " ".join(
            str(o) for o in graph.objects(spatial, None)
        )
        temporal = graph.value(dataset, DCTERMS.temporal)
        assert temporal is not None and any(
            str(o).startswith("2025-06-01") for o in graph.objects(temporal, None)
        )
        assert graph.value(dataset, DCTERMS.issued) and graph.value(dataset, DCTERMS.modified)
        distributions = list(graph.objects(dataset, DCAT.distribution))
        assert len(distributions) == 3
        for distribution in distributions:
            assert graph.value(distribution, DCTERMS.license), suffix
            assert graph.value(distribution, DCAT.downloadURL) or graph.value(
                distribution, DCAT.accessURL
            )
    page = httpx.get(f"{settings.ckan_url}/dataset/{spec.name}", timeout=60).text
    assert 'type="application/ld+json"' in page  # structured data for search engines


def test_republish_is_a_no_op_and_a_cleaned_portal_heals(catalogue: Any) -> None:
    portal, specs, _ = catalogue
    settings: Settings = portal.settings
    public = anonymous(settings)
    before = {s.name: public.dataset(s.name) for s in specs}
    again = publish_all(settings)
    assert not any(r.data_changed or r.healed or r.datastore_loaded for r in again)
    for spec in specs:
        after = public.dataset(spec.name)
        assert after and after["metadata_modified"] == before[spec.name]["metadata_modified"]  # type: ignore[index]

    # `make clean && make demo`: the portal's databases and files go together, then heal.
    portal.clean()
    portal.up(timeout=180)
    healed = publish_all(settings)
    assert all(r.created for r in healed)
    for result in healed:
        for resource in public.dataset(result.name)["resources"]:  # type: ignore[index]
            response = httpx.get(resource["url"], follow_redirects=True, timeout=60)
            assert response.status_code == 200, (result.name, resource["name"])


def test_the_exposures_live_in_dbt() -> None:
    text = (DBT_PROJECT_DIR / "models" / "marts" / "_exposures.yml").read_text(encoding="utf-8")
    assert all(f"name: {name}" in text for name in EXPECTED)


def test_govdata_publish_to_writes_a_valid_data_package(catalogue: Any, tmp_path: Path) -> None:
    """The CLI's offline package of the project's datasets, checked by `frictionless`."""
    import subprocess
    import sys

    from typer.testing import CliRunner

    from govdata.cli import app

    portal, specs, _ = catalogue
    out = tmp_path / "package"
    result = CliRunner().invoke(
        app,
        ["publish", "--to", str(out)],
        env={"GOVDATA_HOME": str(portal.settings.home), "GOVDATA_TARGET": "duckdb"},
    )
    assert result.exit_code == 0, result.output
    report = subprocess.run(
        [
            str(Path(sys.executable).parent / "frictionless"),
            "validate",
            "--json",
            str(out / "datapackage.json"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert report.returncode == 0 and json.loads(report.stdout)["valid"], report.stdout[-3000:]
    package = json.loads((out / "datapackage.json").read_text())
    assert {r["name"] for r in package["resources"]} == {s.name for s in specs}
