"""Open-data publishing against a real local CKAN portal (PostgreSQL, Redis, no Solr).

The module starts its own portal: fresh databases and roles with unique names, a free port
and a temporary GOVDATA_HOME; it stops the server and drops them at the end. If CKAN cannot
be installed or started the tests fail with the server's log: they never skip.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psycopg
import pyarrow.parquet as pq
import pytest
from conftest import assert_no_secret_in, commands_started

from core.settings import REPO_ROOT, Settings
from govdata.services import free_port
from govdata.services.ckan import CkanError, CkanPortal
from opendata.ckan import CkanClient
from opendata.publish import PublishResult, publish_all
from opendata.spec import PersonalDataError, SpecError, dataset_specs

pytestmark = pytest.mark.timeout(900)

SLUG = "ty-le-ho-so-truc-tuyen"
PROJECT_SLUG = "chi-so-766-theo-don-vi-va-thang"  # the project's own 766 dataset
TITLE = "Tỷ lệ hồ sơ trực tuyến (Chỉ số 766.3.3) theo đơn vị và tháng"
PUBLISHED = [
    "period_month",
    "unit_code",
    "unit_name",
    "unit_level",
    "kpi_code",
    "numerator",
    "denominator",
    "rate",
]
MIN_CELL = 5


# -- fixtures: a manifest like dbt's, a DuckDB serving copy, a portal --------------------------


def _column(name: str, description: str, **meta: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "meta": meta,
        "data_type": None,
        "config": {"meta": {}, "tags": []},
        "tags": [],
    }


def fixture_manifest() -> dict[str, Any]:
    """The shape of ``dbt_project/target/manifest.json`` (dbt 1.11) for one exposure."""
    ckan_meta = {
        "name": SLUG,
        "title": TITLE,
        "model": "kpi_unit_month",
        "where": {"kpi_code": "766.3.3"},
        "columns": PUBLISHED,
        "primary_key": ["period_month", "unit_code", "kpi_code"],
        "suppress": {"count_columns": ["numerator", "denominator"], "dependent_columns": ["rate"]},
        "tags": ["thu-tuc-hanh-chinh", "chi-so-766", "dich-vu-cong-truc-tuyen"],
        "theme": "government",
        "frequency": "monthly",
        "language": "vi",
        "spatial": "Ninh Bình (mã 37)",
    }
    columns = {
        c["name"]: c
        for c in [
            _column("period_month", "First day of the month the indicator covers.", label="Tháng"),
            _column("unit_code", "Official code of the unit.", label="Mã đơn vị"),
            _column("unit_name", "Official name of the unit in that month."),
            _column("unit_level", "province or commune."),
            _column("kpi_code", "Indicator code (766.3.3 = online dossier rate)."),
            _column("kpi_name", "Indicator name in Vietnamese."),
            _column("numerator", "Dossiers received online."),
            _column("denominator", "Dossiers received."),
            _column("rate", "numerator / denominator."),
        ]
    }
    return {
        "metadata": {"dbt_version": "1.11.0", "project_name": "govdata"},
        "nodes": {
            "model.govdata.kpi_unit_month": {
                "resource_type": "model",
                "name": "kpi_unit_month",
                "schema": "marts",
                "alias": "kpi_unit_month",
                "description": "KPIs per administrative unit and month.",
                "columns": columns,
                "meta": {},
                "config": {"meta": {}},
            }
        },
        "exposures": {
            "exposure.govdata.opendata_online_dossier_rate": {
                "name": "opendata_online_dossier_rate",
                "label": "Online dossier rate by unit and month",
                "type": "application",
                "owner": {"name": "Ninh Binh provincial data team", "email": "od@example.vn"},
                "description": "Share of dossiers received online, per unit and month.",
                "depends_on": {"nodes": ["model.govdata.kpi_unit_month"], "macros": []},
                "meta": {"ckan": ckan_meta},
                "config": {"meta": {"ckan": ckan_meta}},
            },
            "exposure.govdata.dashboard": {
                "name": "dashboard",
                "type": "dashboard",
                "owner": {"name": "x"},
                "depends_on": {"nodes": ["model.govdata.kpi_unit_month"]},
                "meta": {},
            },
        },
    }


# (unit_code, unit_name, level, online dossiers, dossiers received)
UNITS = [
    ("37", "Tỉnh Ninh Bình", "province", 1240, 2000),
    ("13285", "Phường Phủ Lý", "commune", 3, 40),  # 3 < 5: numerator and rate hidden
    ("13286", "Xã Kim Bảng", "commune", 2, 4),  # both counts small
    ("13287", "Xã Gia Viễn", "commune", 0, 25),  # zero identifies nobody: kept
    ("13288", "Xã Hoa Lư", "commune", 12, 30),
]


def write_warehouse(path: Path, months: list[dt.date]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS marts")
        conn.execute(
            """CREATE OR REPLACE TABLE marts.kpi_unit_month (
                period_month DATE, unit_code VARCHAR, unit_name VARCHAR, unit_level VARCHAR,
                kpi_code VARCHAR, kpi_name VARCHAR, numerator BIGINT, denominator BIGINT,
                rate DOUBLE, boundaries VARCHAR)"""
        )
        rows = []
        for month in months:
            for code, name, level, online, received in UNITS:
                rows.append(
                    (month, code, name, level, "766.3.3", "Tỷ lệ hồ sơ trực tuyến",
                     online, received, online / received, "current")
                )  # fmt: skip
                rows.append(
                    (month, code, name, level, "766.2.1", "Tỷ lệ đúng hạn",
                     received - 1, received, (received - 1) / received, "current")
                )  # fmt: skip
        conn.executemany("INSERT INTO marts.kpi_unit_month VALUES (?,?,?,?,?,?,?,?,?,?)", rows)


#: The command lines the module's portal started on its way up (its first start: the admin
#: user and the API token are created then).
STARTED_BY_PORTAL: list[list[str]] = []


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CkanPortal]:
    home = tmp_path_factory.mktemp("govdata-home")
    tag = f"gdtest_{uuid.uuid4().hex[:8]}"
    port = free_port()
    settings = Settings(
        home=home,
        target="duckdb",
        ckan_url=f"http://127.0.0.1:{port}",
        ckan_api_token=None,
        ckan_organization="ninh-binh",
        opendata_min_cell_count=MIN_CELL,
        ckan_db_url=f"postgresql://{tag}@127.0.0.1:5432/{tag}",
        ckan_datastore_write_url=f"postgresql://{tag}@127.0.0.1:5432/{tag}_datastore",
        ckan_datastore_read_url=f"postgresql://{tag}_ro@127.0.0.1:5432/{tag}_datastore",
        ckan_redis_url="redis://127.0.0.1:6379/15",
    )
    ckan = CkanPortal(settings)
    try:
        try:
            with commands_started() as started:
                ckan.up(timeout=180)
            STARTED_BY_PORTAL[:] = started
        except CkanError as error:
            pytest.fail(f"the local CKAN portal could not start: {error}", pytrace=False)
        yield ckan
    finally:
        ckan.stop()
        ckan.drop_databases(drop_roles=True)


@pytest.fixture(scope="module")
def settings(portal: CkanPortal) -> Settings:
    write_warehouse(portal.settings.serving_path, [dt.date(2025, 8, 1), dt.date(2025, 9, 1)])
    return portal.settings


@pytest.fixture(scope="module")
def manifest_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("manifest") / "manifest.json"
    path.write_text(json.dumps(fixture_manifest()))
    return path


@pytest.fixture(scope="module")
def first_publish(settings: Settings, manifest_path: Path) -> list[PublishResult]:
    return publish_all(settings, manifest_path=manifest_path)


def client(settings: Settings) -> CkanClient:
    return CkanClient(settings.ckan_url, api_token=None)  # anonymous: what the public sees


def download(url: str) -> bytes:
    response = httpx.get(url, follow_redirects=True, timeout=30)
    response.raise_for_status()
    return response.content


def published_csv(settings: Settings) -> list[dict[str, str]]:
    dataset = client(settings).dataset(SLUG)
    assert dataset
    resource = next(r for r in dataset["resources"] if r["format"] == "CSV")
    return list(csv.DictReader(io.StringIO(download(resource["url"]).decode("utf-8"))))


# -- tests --------------------------------------------------------------------------------------


def test_publish_creates_dataset_with_dcat_metadata(
    settings: Settings, first_publish: list[PublishResult]
) -> None:
    (result,) = first_publish
    assert result.created and result.name == SLUG and result.rows == 2 * len(UNITS)

    dataset = client(settings).dataset(SLUG)
    assert dataset is not None and dataset["id"] == result.dataset_id
    assert dataset["title"] == TITLE
    assert dataset["organization"]["name"] == "ninh-binh"
    assert dataset["license_id"] == "cc-by"
    assert "4.0" in dataset["license_title"]
    assert not dataset["private"]
    assert dataset["maintainer_email"] == "od@example.vn"
    assert "Share of dossiers received online" in dataset["notes"]
    assert {t["name"] for t in dataset["tags"]} == {
        "thu-tuc-hanh-chinh",
        "chi-so-766",
        "dich-vu-cong-truc-tuyen",
    }
    extras = {e["key"]: e["value"] for e in dataset["extras"]}
    assert extras["theme"].endswith("/data-theme/GOVE")
    assert extras["frequency"].endswith("/frequency/MONTHLY")
    assert extras["language"] == "vi"
    assert extras["spatial_text"] == "Ninh Bình (mã 37)"
    assert extras["temporal_start"] == "2025-08-01"
    assert extras["temporal_end"] == "2025-09-30"
    assert extras["publisher_name"] == settings.ckan_organization_title
    assert extras["contact_email"] == "od@example.vn"
    assert dt.datetime.fromisoformat(extras["issued"]) <= dt.datetime.fromisoformat(
        extras["modified"]
    )


def test_resources_csv_parquet_and_table_schema(
    settings: Settings, first_publish: list[PublishResult]
) -> None:
    dataset = client(settings).dataset(SLUG)
    assert dataset
    by_format = {r["format"]: r for r in dataset["resources"]}
    assert set(by_format) == {"CSV", "Parquet", "JSON"} and len(dataset["resources"]) == 3

    rows = published_csv(settings)
    assert list(rows[0]) == PUBLISHED  # the declared columns, nothing else (no kpi_name)
    assert {r["kpi_code"] for r in rows} == {"766.3.3"}  # the `where` filter
    assert len(rows) == 2 * len(UNITS)

    table = pq.read_table(io.BytesIO(download(by_format["Parquet"]["url"])))
    assert table.column_names == PUBLISHED and table.num_rows == len(rows)
    assert table.schema.field("rate").metadata[b"description"].startswith(b"numerator")

    schema = json.loads(download(by_format["JSON"]["url"]))
    fields = {f["name"]: f for f in schema["fields"]}
    assert list(fields) == PUBLISHED
    assert fields["period_month"] == {
        "name": "period_month",
        "title": "Tháng",
        "type": "date",
        "description": "First day of the month the indicator covers.",
        "constraints": {"required": True},
    }
    assert fields["numerator"]["type"] == "integer" and fields["rate"]["type"] == "number"
    assert "suppressed" in fields["rate"]["description"]
    assert schema["primaryKey"] == ["period_month", "unit_code", "kpi_code"]
    assert by_format["CSV"]["schema"] == by_format["JSON"]["url"]


def test_datastore_has_rows_and_data_dictionary(
    settings: Settings, first_publish: list[PublishResult]
) -> None:
    ckan = client(settings)
    resource_id = first_publish[0].resources["csv"]
    info = ckan.call("datastore_info", {"id": resource_id})
    fields = {f["id"]: f for f in info["fields"]}
    assert list(fields) == PUBLISHED
    assert fields["unit_code"]["info"]["label"] == "Mã đơn vị"
    assert fields["unit_code"]["info"]["notes"] == "Official code of the unit."
    assert fields["denominator"]["type"] == "int8" and fields["rate"]["type"] == "float8"
    records = ckan.call("datastore_search", {"resource_id": resource_id, "limit": 100})
    assert records["total"] == 2 * len(UNITS)
    views = ckan.call("resource_view_list", {"id": resource_id})
    assert [v["view_type"] for v in views] == ["datatables_view"]  # a table on its page


def test_small_counts_are_suppressed(
    settings: Settings, first_publish: list[PublishResult]
) -> None:
    rows = {(r["period_month"], r["unit_code"]): r for r in published_csv(settings)}
    phu_ly = rows[("2025-08-01", "13285")]
    assert (phu_ly["numerator"], phu_ly["denominator"], phu_ly["rate"]) == ("", "40", "")
    kim_bang = rows[("2025-08-01", "13286")]
    assert (kim_bang["numerator"], kim_bang["denominator"], kim_bang["rate"]) == ("", "", "")
    gia_vien = rows[("2025-08-01", "13287")]
    assert (gia_vien["numerator"], gia_vien["denominator"]) == ("0", "25")
    hoa_lu = rows[("2025-09-01", "13288")]
    assert (hoa_lu["numerator"], hoa_lu["denominator"], hoa_lu["rate"]) == ("12", "30", "0.4")
    province = rows[("2025-09-01", "37")]
    assert province["numerator"] == "1240" and float(province["rate"]) == pytest.approx(0.62)
    for row in rows.values():  # no published count below the threshold
        for column in ("numerator", "denominator"):
            assert row[column] == "" or int(row[column]) == 0 or int(row[column]) >= MIN_CELL
    # per month: Phu Ly numerator + rate (2), Kim Bang numerator, denominator + rate (3)
    assert first_publish[0].suppressed_cells == 2 * 5
    assert first_publish[0].suppressed_rows == 2 * 2


def test_portal_lists_the_dataset(settings: Settings, first_publish: list[PublishResult]) -> None:
    ckan = client(settings)
    found = ckan.search(q="*:*", rows=10)
    assert found["count"] == 1 and found["results"][0]["name"] == SLUG
    # free text, accent-insensitive like Solr's ASCII folding; facets for the UI
    assert ckan.search(q="ho so truc tuyen")["count"] == 1
    assert ckan.search(q="hồ sơ trực tuyến")["count"] == 1
    assert ckan.search(q="khong-co-tu-nay")["count"] == 0
    assert ckan.search(fq='tags:"chi-so-766" +res_format:"Parquet"')["count"] == 1
    faceted = ckan.search(**{"facet.field": ["organization", "tags", "res_format"]})
    formats = {i["name"]: i["count"] for i in faceted["search_facets"]["res_format"]["items"]}
    assert formats == {"CSV": 1, "Parquet": 1, "JSON": 1}

    page = httpx.get(f"{settings.ckan_url}/dataset/", timeout=30)
    assert page.status_code == 200
    assert TITLE in page.text and f'href="/dataset/{SLUG}"' in page.text
    home = httpx.get(f"{settings.ckan_url}/dataset/?q=truc+tuyen&sort=title_string+asc", timeout=30)
    assert TITLE in home.text
    assert httpx.get(f"{settings.ckan_url}/dataset/{SLUG}", timeout=30).status_code == 200


def test_republish_updates_in_place(
    settings: Settings, manifest_path: Path, first_publish: list[PublishResult]
) -> None:
    ckan = client(settings)
    before = ckan.dataset(SLUG)
    assert before

    (again,) = publish_all(settings, manifest_path=manifest_path)
    assert not again.created and not again.data_changed
    after = ckan.dataset(SLUG)
    assert after
    assert after["id"] == before["id"]
    assert [r["id"] for r in after["resources"]] == [r["id"] for r in before["resources"]]
    assert after["metadata_modified"] == before["metadata_modified"]  # nothing rewritten
    assert ckan.search(q=f"name:{SLUG}")["count"] == 1

    # New data (a third month) replaces the files and the DataStore table in place.
    write_warehouse(
        settings.serving_path, [dt.date(2025, 8, 1), dt.date(2025, 9, 1), dt.date(2025, 10, 1)]
    )
    (updated,) = publish_all(settings, manifest_path=manifest_path)
    assert updated.data_changed and not updated.created and updated.rows == 3 * len(UNITS)
    final = ckan.dataset(SLUG)
    assert final
    assert final["id"] == before["id"]
    assert [r["id"] for r in final["resources"]] == [r["id"] for r in before["resources"]]
    assert ckan.search(q="*:*")["count"] == 1
    assert len(published_csv(settings)) == 3 * len(UNITS)
    extras = {e["key"]: e["value"] for e in final["extras"]}
    assert extras["temporal_end"] == "2025-10-31"
    assert extras["modified"] > {e["key"]: e["value"] for e in before["extras"]}["modified"]
    assert extras["issued"] == {e["key"]: e["value"] for e in before["extras"]}["issued"]
    total = ckan.call("datastore_search", {"resource_id": updated.resources["csv"], "limit": 0})
    assert total["total"] == 3 * len(UNITS)


def test_postgres_warehouse_publishes_the_same_files(
    settings: Settings, manifest_path: Path, first_publish: Any
) -> None:
    """GOVDATA_TARGET=postgres reads the mart from PostgreSQL: same rows, same files, so the
    portal is left untouched."""
    from govdata.services.ckan import PgTarget

    source = PgTarget(settings.ckan_db_url)
    warehouse = f"{source.dbname}_warehouse"
    admin = CkanPortal(settings)._admin
    with admin() as conn:
        conn.execute(f'CREATE DATABASE "{warehouse}"')
    try:
        url = f"postgresql://postgres@127.0.0.1:5432/{warehouse}"
        with duckdb.connect(str(settings.serving_path), read_only=True) as duck:
            rows = duck.execute("SELECT * FROM marts.kpi_unit_month").fetchall()
        with psycopg.connect(url) as conn:
            conn.execute("CREATE SCHEMA marts")
            conn.execute(
                """CREATE TABLE marts.kpi_unit_month (
                    period_month date, unit_code text, unit_name text, unit_level text,
                    kpi_code text, kpi_name text, numerator bigint, denominator bigint,
                    rate double precision, boundaries text)"""
            )
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO marts.kpi_unit_month VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows
                )
        before = client(settings).dataset(SLUG)
        on_postgres = settings.model_copy(update={"target": "postgres", "pg_url": url})
        (result,) = publish_all(on_postgres, manifest_path=manifest_path)
        assert result.rows == len(rows) // 2 and not result.data_changed
        after = client(settings).dataset(SLUG)
        assert before and after and after["metadata_modified"] == before["metadata_modified"]
    finally:
        with admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{warehouse}" WITH (FORCE)')


@pytest.mark.parametrize(
    ("column", "meta"),
    [
        ("chu_ho_so", {}),  # the dossier owner's name, by its name
        ("so_dien_thoai", {}),
        ("unit_name", {"personal": True}),  # an innocent name, marked personal in dbt
    ],
)
def test_personal_columns_are_refused(
    settings: Settings, tmp_path: Path, column: str, meta: dict[str, Any], first_publish: Any
) -> None:
    manifest = copy.deepcopy(fixture_manifest())
    node = manifest["nodes"]["model.govdata.kpi_unit_month"]
    node["columns"][column] = _column(column, "Documented, still personal.", **meta)
    exposure = manifest["exposures"]["exposure.govdata.opendata_online_dossier_rate"]
    for holder in (exposure["meta"], exposure["config"]["meta"]):
        holder["ckan"]["name"] = "bo-du-lieu-ca-nhan"
        if column not in holder["ckan"]["columns"]:
            holder["ckan"]["columns"] = [*holder["ckan"]["columns"], column]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))

    with pytest.raises(PersonalDataError, match=column):
        publish_all(settings, manifest_path=path)
    assert client(settings).dataset("bo-du-lieu-ca-nhan") is None


def test_undeclared_or_undocumented_columns_are_refused() -> None:
    manifest = fixture_manifest()
    exposure = manifest["exposures"]["exposure.govdata.opendata_online_dossier_rate"]
    exposure["meta"]["ckan"]["columns"] = [*PUBLISHED, "secret_notes"]
    with pytest.raises(SpecError, match="secret_notes"):
        dataset_specs(manifest)
    exposure["meta"]["ckan"]["columns"] = PUBLISHED
    exposure["meta"]["ckan"]["suppress"]["dependent_columns"] = ["kpi_name"]
    with pytest.raises(SpecError, match="kpi_name"):
        dataset_specs(manifest)


def test_project_manifest_declares_publishable_datasets(
    settings: Settings, tmp_path: Path, first_publish: Any
) -> None:
    """The real dbt project's exposures parse with a bilingual data dictionary, and its 766
    dataset publishes (on the fixture warehouse, which has the mart's columns)."""
    target = tmp_path / "dbt-target"
    env = {**os.environ, "DBT_PROFILES_DIR": str(REPO_ROOT / "dbt_project")}
    subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            "parse",
            "--quiet",
            "--project-dir",
            str(REPO_ROOT / "dbt_project"),
            "--target-path",
            str(target),
            "--log-path",
            str(tmp_path / "dbt-logs"),
        ],
        check=True,
        env=env,
        timeout=300,
    )
    manifest_file = target / "manifest.json"
    specs = {
        s.name: s
        for s in dataset_specs(json.loads(manifest_file.read_text()), profile=settings.profile)
    }
    assert PROJECT_SLUG in specs and len(specs) >= 9
    for spec in specs.values():  # bilingual data dictionary, titled from the profile
        assert all(c.description_vi and c.label != c.name for c in spec.columns), spec.name
        assert spec.ckan.description and spec.description and "${" not in spec.ckan.title
    results = publish_all(settings, manifest_path=manifest_file, only=[PROJECT_SLUG])
    assert [r.name for r in results] == [PROJECT_SLUG] and results[0].rows == 6 * len(
        UNITS
    )  # 3 months, 2 indicators
    schema = json.loads(results[0].files.table_schema.read_text())  # type: ignore[union-attr]
    assert schema["fields"][0]["title"] == "Tháng"
    assert schema["fields"][0]["description"].startswith("Ngày đầu tháng")
    info = client(settings).call("datastore_info", {"id": results[0].resources["csv"]})
    assert info["fields"][0]["info"]["label"] == "Tháng"
    publisher(settings).call("dataset_purge", {"id": PROJECT_SLUG})  # leave the fixture's alone


# -- reliable publishing: what the portal serves, partial failures, removed exposures ----------

SECOND = "ty-le-ho-so-dung-han"


def two_dataset_manifest(tmp_path: Path, second: bool = True) -> Path:
    """The fixture manifest, with a second dataset (the on-time rate) when ``second``."""
    manifest = copy.deepcopy(fixture_manifest())
    exposures = manifest["exposures"]
    if second:
        other = copy.deepcopy(exposures["exposure.govdata.opendata_online_dossier_rate"])
        other["name"] = "opendata_timeliness_rate"
        for holder in (other["meta"], other["config"]["meta"]):
            holder["ckan"]["name"] = SECOND
            holder["ckan"]["title"] = "Tỷ lệ hồ sơ đúng hạn theo đơn vị và tháng"
            holder["ckan"]["where"] = {"kpi_code": "766.2.1"}
        exposures["exposure.govdata.opendata_timeliness_rate"] = other
    path = tmp_path / f"manifest-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(manifest))
    return path


def publisher(settings: Settings) -> CkanClient:
    return CkanClient(settings.ckan_url, api_token=settings.ckan_token())


def activity_count(settings: Settings, name: str) -> int:
    return len(publisher(settings).call("package_activity_list", {"id": name, "limit": 100}))


def assert_downloads_equal_local(settings: Settings, result: PublishResult) -> None:
    """Every resource answers HTTP 200 with the bytes the publisher wrote."""
    dataset = client(settings).dataset(result.name)
    assert dataset and result.files
    local = {
        "csv": result.files.csv,
        "parquet": result.files.parquet,
        "table-schema": result.files.table_schema,
    }
    for resource in dataset["resources"]:
        response = httpx.get(resource["url"], follow_redirects=True, timeout=30)
        assert response.status_code == 200, resource["url"]
        assert response.content == local[resource["govdata_key"]].read_bytes()


def test_republish_unchanged_is_a_no_op(
    settings: Settings, manifest_path: Path, first_publish: Any
) -> None:
    publish_all(settings, manifest_path=manifest_path)  # after the project's manifest's docs
    before = client(settings).dataset(SLUG)
    activities = activity_count(settings, SLUG)
    (again,) = publish_all(settings, manifest_path=manifest_path)
    assert not again.data_changed and not again.healed and not again.datastore_loaded
    after = client(settings).dataset(SLUG)
    assert before and after and after["metadata_modified"] == before["metadata_modified"]
    assert {e["key"]: e["value"] for e in after["extras"]}["modified"] == {
        e["key"]: e["value"] for e in before["extras"]
    }["modified"]
    assert activity_count(settings, SLUG) == activities  # no new activity


def test_files_the_portal_lost_are_uploaded_again(
    portal: CkanPortal, settings: Settings, manifest_path: Path, first_publish: Any
) -> None:
    """The portal's records survive but its files are gone (``rm -rf data`` with the database
    kept): downloads fail, and the next publish heals them without a new ``modified``."""
    dataset = client(settings).dataset(SLUG)
    assert dataset
    modified = {e["key"]: e["value"] for e in dataset["extras"]}["modified"]
    shutil.rmtree(portal.storage_path / "resources")
    broken = httpx.get(dataset["resources"][0]["url"], follow_redirects=True, timeout=30)
    assert broken.status_code != 200  # what the public saw after `make clean`

    (healed,) = publish_all(settings, manifest_path=manifest_path)
    assert sorted(healed.healed) == ["csv", "parquet", "table-schema"]
    assert not healed.data_changed
    assert_downloads_equal_local(settings, healed)
    after = client(settings).dataset(SLUG)
    assert after and {e["key"]: e["value"] for e in after["extras"]}["modified"] == modified
    (again,) = publish_all(settings, manifest_path=manifest_path)
    assert not again.healed  # healed for good


def test_a_portal_failing_halfway_is_reported_and_the_next_run_completes(
    portal: CkanPortal, settings: Settings, tmp_path: Path, first_publish: Any
) -> None:
    from opendata.publish import PublishIncomplete

    class PortalGoesDown(CkanClient):
        def create_dataset(self, data: dict[str, Any]) -> dict[str, Any]:
            portal.stop()  # the portal stops answering in the middle of the run
            return super().create_dataset(data)

    manifest = two_dataset_manifest(tmp_path)
    failing = PortalGoesDown(settings.ckan_url, settings.ckan_token())
    try:
        with pytest.raises(PublishIncomplete) as caught:
            publish_all(settings, manifest_path=manifest, client=failing)
    finally:
        portal.start(timeout=180)
    error = caught.value
    assert [r.name for r in error.published] == [SLUG]
    assert list(error.failed) == [SECOND] and "cannot reach" in error.failed[SECOND]
    assert f"{SECOND}: " in str(error) and f"published: {SLUG}" in str(error)
    assert client(settings).dataset(SECOND) is None

    results = {r.name: r for r in publish_all(settings, manifest_path=manifest)}
    assert results[SECOND].created and not results[SLUG].data_changed
    assert_downloads_equal_local(settings, results[SECOND])


def test_portal_down_fails_every_dataset_by_name(settings: Settings, tmp_path: Path) -> None:
    from opendata.publish import PublishIncomplete

    down = CkanClient(f"http://127.0.0.1:{free_port()}", "token")
    with pytest.raises(PublishIncomplete, match="2 of 2 datasets were NOT published"):
        publish_all(settings, manifest_path=two_dataset_manifest(tmp_path), client=down)


def test_a_removed_exposure_is_kept_unless_pruned(
    settings: Settings, tmp_path: Path, first_publish: Any
) -> None:
    from opendata.publish import publish_run

    publish_all(settings, manifest_path=two_dataset_manifest(tmp_path))
    assert client(settings).dataset(SECOND)
    one = two_dataset_manifest(tmp_path, second=False)
    run = publish_run(settings, manifest_path=one)
    assert run.orphans == [SECOND] and run.pruned == []
    assert client(settings).dataset(SECOND)  # kept
    run = publish_run(settings, manifest_path=one, prune=True)
    assert run.pruned == [SECOND]
    assert client(settings).dataset(SECOND) is None
    assert client(settings).search(q="*:*")["count"] == 1


def test_a_planted_personal_column_stops_the_publish(
    settings: Settings, tmp_path: Path, first_publish: Any
) -> None:
    """A column whose name and docs look innocent but whose values are phone numbers."""
    with duckdb.connect(str(settings.serving_path)) as conn:
        conn.execute(
            "CREATE OR REPLACE TABLE marts.kpi_unit_month_notes AS SELECT *, "
            "'Liên hệ 0912 345 678' AS ghi_chu FROM marts.kpi_unit_month"
        )
    manifest = copy.deepcopy(fixture_manifest())
    node = copy.deepcopy(manifest["nodes"]["model.govdata.kpi_unit_month"])
    node.update(name="kpi_unit_month_notes", alias="kpi_unit_month_notes")
    node["columns"]["ghi_chu"] = _column("ghi_chu", "Notes of the unit.")
    manifest["nodes"]["model.govdata.kpi_unit_month_notes"] = node
    exposure = manifest["exposures"]["exposure.govdata.opendata_online_dossier_rate"]
    exposure["depends_on"]["nodes"] = ["model.govdata.kpi_unit_month_notes"]
    for holder in (exposure["meta"], exposure["config"]["meta"]):
        holder["ckan"].update(
            name="ghi-chu", model="kpi_unit_month_notes", columns=[*PUBLISHED, "ghi_chu"]
        )
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(PersonalDataError, match=r"column 'ghi_chu' holds .*phone numbers"):
        publish_all(settings, manifest_path=path)
    assert client(settings).dataset("ghi-chu") is None


def test_a_database_serving_another_homes_files_is_refused(
    portal: CkanPortal, tmp_path: Path, first_publish: Any
) -> None:
    """A second checkout (another home) pointed at this portal's databases would show records
    whose files it does not have: ``up`` refuses instead, naming both."""
    other = CkanPortal(portal.settings.model_copy(update={"home": tmp_path / "other-home"}))
    with pytest.raises(CkanError, match="is the portal of the files in"):
        other.pair_storage()
    assert portal.pair_storage() == json.loads(portal.pairing_path.read_text())["pairing_id"]


def test_portal_databases_are_named_after_the_home(tmp_path: Path) -> None:
    first = Settings(home=tmp_path / "a", ckan_db_url="", ckan_datastore_write_url="")
    second = Settings(home=tmp_path / "b", ckan_db_url="", ckan_datastore_write_url="")
    assert first.ckan_db_url != second.ckan_db_url
    assert first.ckan_db_url.endswith(f"govdata_ckan_{first.ckan_database_tag}")
    assert first.ckan_datastore_write_url.endswith(f"_{first.ckan_database_tag}_datastore")
    assert Settings(home=tmp_path / "a", ckan_db_url="").ckan_db_url == first.ckan_db_url


def test_a_restart_keeps_the_titles_set_in_the_portal(
    portal: CkanPortal, caplog: pytest.LogCaptureFixture
) -> None:
    """A sysadmin retitles the site (the UI's Config page) and the organization in the portal;
    stopping and starting it keeps both. The publisher's account, demoted there, is made a
    sysadmin again (publishing needs it), and the log says so."""
    settings = portal.settings
    sysadmin = CkanClient(settings.ckan_url, api_token=portal.token_path.read_text().strip())
    site_title = "Cổng dữ liệu mở (tiêu đề do quản trị đặt)"
    organization_title = "Sở Khoa học và Công nghệ (tên do quản trị đặt)"
    sysadmin.call("config_option_update", {"ckan.site_title": site_title})
    sysadmin.call(
        "organization_patch", {"id": settings.ckan_organization, "title": organization_title}
    )
    with psycopg.connect(portal.db.url, autocommit=True) as conn:
        conn.execute(
            'UPDATE "user" SET sysadmin = false WHERE name = %s', (settings.ckan_admin_user,)
        )
    portal.stop()
    with caplog.at_level("WARNING", logger="govdata.services.ckan"):
        portal.up(timeout=180)
    public = client(settings)
    assert public.call("status_show")["site_title"] == site_title
    assert public.call("organization_show", {"id": settings.ckan_organization})["title"] == (
        organization_title
    )
    (warning,) = [r.getMessage() for r in caplog.records]
    assert f"the publisher {settings.ckan_admin_user} was not a sysadmin" in warning
    with psycopg.connect(portal.db.url) as conn:
        (is_sysadmin,) = conn.execute(
            'SELECT sysadmin FROM "user" WHERE name = %s', (settings.ckan_admin_user,)
        ).fetchone()
    assert is_sysadmin


def test_clean_portal_then_republish_heals_every_download(
    portal: CkanPortal, settings: Settings, manifest_path: Path, first_publish: Any
) -> None:
    """``make clean && make demo``: the portal's databases and files go together, and the
    next publish recreates everything (last: it empties the portal)."""
    portal.clean()
    assert not portal.storage_path.exists()
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}
    assert portal.db.dbname not in names and portal.datastore_write.dbname not in names
    portal.up(timeout=180)
    (result,) = publish_all(settings, manifest_path=manifest_path)
    assert result.created
    assert_downloads_equal_local(settings, result)
    records = client(settings).call("datastore_search", {"resource_id": result.resources["csv"]})
    assert records["total"] == result.rows


# -- the offline package (no portal) --------------------------------------------------------------


def test_offline_package_validates_with_frictionless(tmp_path: Path) -> None:
    """``govdata publish --to DIR``: the same files as a Data Package `frictionless` accepts."""
    from opendata.package import write_package

    offline = Settings(home=tmp_path / "home", target="duckdb", opendata_min_cell_count=MIN_CELL)
    write_warehouse(offline.serving_path, [dt.date(2025, 8, 1), dt.date(2025, 9, 1)])
    manifest = two_dataset_manifest(tmp_path)
    descriptor = write_package(offline, tmp_path / "package", manifest_path=manifest)

    report = subprocess.run(
        [str(Path(sys.executable).parent / "frictionless"), "validate", "--json", str(descriptor)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    outcome = json.loads(report.stdout)
    assert report.returncode == 0 and outcome["valid"], report.stdout[-3000:]
    package = json.loads(descriptor.read_text())
    assert [r["name"] for r in package["resources"]] == [SLUG, SECOND]
    assert package["licenses"][0]["name"] == "CC-BY-4.0"
    resource = package["resources"][0]
    rows = list(csv.DictReader((descriptor.parent / resource["path"]).open(encoding="utf-8")))
    assert len(rows) == 2 * len(UNITS) and list(rows[0]) == PUBLISHED
    assert resource["schema"]["primaryKey"] == ["period_month", "unit_code", "kpi_code"]
    assert (descriptor.parent / resource["govdata"]["parquet"]).exists()
    assert "Privacy:" in resource["description"] and "Bảo vệ dữ liệu" in resource["description"]


def test_no_password_or_token_on_a_command_line(portal: CkanPortal) -> None:
    """`ps` shows every process's arguments to every user of the machine: the portal's admin
    password, database passwords and API token never appear in them."""
    from sqlalchemy.engine import make_url

    settings = portal.settings
    assert_no_secret_in(
        STARTED_BY_PORTAL,
        {
            "the CKAN admin password": settings.ckan_admin_password,
            "the publisher's API token": portal.settings.ckan_token(),
            **{
                f"the password of {url}": make_url(url).password
                for url in (
                    settings.ckan_db_url,
                    settings.ckan_datastore_write_url,
                    settings.ckan_datastore_read_url,
                )
            },
        },
    )
    assert any("user" in command and "add" in command for command in STARTED_BY_PORTAL)
    # ... and the password CKAN stored is the one of the settings (it went through the prompt)
    with psycopg.connect(settings.ckan_db_url) as connection:
        (stored,) = connection.execute(
            'select password from "user" where name = %s', [settings.ckan_admin_user]
        ).fetchone()
    check = "import os; from passlib.hash import pbkdf2_sha512 as h; " \
        "print(h.verify(os.environ['PASSWORD'], os.environ['STORED']))"  # fmt: skip
    verified = subprocess.run(
        [str(portal.venv / "bin" / "python"), "-c", check],
        env={"PASSWORD": settings.ckan_admin_password, "STORED": stored},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert verified.stdout.strip() == "True"
