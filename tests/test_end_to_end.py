"""The walking skeleton end to end: Airflow runs ingest → build → publish on the demo
province's simulated sources, the KPI reaches the CKAN portal, and the leaders' dashboard
shows it in Chromium. Every server is real and started here; none is skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import psycopg
import pytest
from browser import ARTIFACTS, chart_count, chromium, logged_in_page, open_dashboard
from conftest import PG_ADMIN_URL, require_postgres
from superset_fixtures import vietnamese

from core.settings import Settings, load_settings
from govdata.services import free_port, superset
from govdata.services.airflow import BUILD_DAG, INGESTION_DAGS
from govdata.services.ckan import CkanError, CkanPortal

pytestmark = pytest.mark.timeout(900)
DATASET = "chi-so-766-theo-don-vi-va-thang"  # every Decision 766 indicator


@pytest.fixture
def environment(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """GOVDATA_* for a whole platform of its own: CKAN and Superset on fresh databases."""
    require_postgres()
    tag = f"gde2e_{uuid.uuid4().hex[:8]}"
    variables = {
        "GOVDATA_TASK_RETRIES": "0",
        "GOVDATA_CKAN_URL": f"http://127.0.0.1:{free_port()}",
        "GOVDATA_CKAN_DB_URL": f"postgresql://{tag}@127.0.0.1:5432/{tag}",
        "GOVDATA_CKAN_DATASTORE_WRITE_URL": f"postgresql://{tag}@127.0.0.1:5432/{tag}_ds",
        "GOVDATA_CKAN_DATASTORE_READ_URL": f"postgresql://{tag}_ro@127.0.0.1:5432/{tag}_ds",
        "GOVDATA_CKAN_REDIS_URL": "redis://127.0.0.1:6379/14",
        "GOVDATA_SUPERSET_PORT": str(free_port()),
        "GOVDATA_SUPERSET_WORKERS": "1",
        "GOVDATA_SUPERSET_METADATA_URL": f"postgresql://postgres@127.0.0.1:5432/{tag}_superset",
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    portal = CkanPortal(settings)
    try:
        try:
            portal.up(timeout=180)
        except CkanError as error:
            pytest.fail(f"the local CKAN portal could not start: {error}", pytrace=False)
        yield settings
    finally:
        superset.stop(settings)
        superset.drop_database(settings.superset_metadata_url)
        portal.stop()
        portal.drop_databases(drop_roles=True)


def run_dags() -> dict[str, dict[str, str]]:
    """Initialise Airflow's metadata DB (conftest points it at a temp file) and test each DAG
    in process: the three ingestions, then the build (tests/test_airflow.py runs them in a
    real deployment)."""
    from airflow import settings as airflow_settings
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.pool import Pool
    from airflow.utils.db import initdb

    # In process, on the very engine dag.test() will use: a separate `airflow db migrate`
    # once initialised a file this process was not reading (CI, after the whole suite).
    airflow_settings.dispose_orm()
    airflow_settings.configure_orm()
    assert str(airflow_settings.engine.url) == os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    initdb()
    Pool.create_or_update_pool(
        "warehouse_writer", slots=1, description="DuckDB: one writer", include_deferred=False
    )
    bag = DagBag()
    assert not bag.import_errors, bag.import_errors
    states = {}
    for dag_id in (*INGESTION_DAGS, BUILD_DAG):
        dag = bag.dags[dag_id]
        # dag.test() cannot store a DAG's deadline alerts (Airflow 3.3: it has no serialized
        # DAG); tests/test_airflow.py hears them from a real deployment.
        dag.deadline = None
        run = dag.test()
        states[dag_id] = {ti.task_id: ti.state for ti in run.get_task_instances()}
    return states


def test_dag_feeds_the_portal_and_the_dashboard(environment: Settings) -> None:
    settings = environment
    states = run_dags()
    for dag_id in INGESTION_DAGS:
        assert states[dag_id] == {"ingest": "success", "announce": "success"}, states
    assert states[BUILD_DAG] == {
        "source_freshness": "success",
        "reconciliation": "success",
        "build": "success",
        "publish": "success",
        "refresh_dashboards": "skipped",  # Superset starts below
    }, states

    # Every record read is accounted for (the ledger reaches readers through its mart: the
    # serving copy holds the marts alone), and the marts are in the readers' serving copy.
    with duckdb.connect(str(settings.serving_path), read_only=True) as warehouse:
        runs = warehouse.execute(
            "select rows_read, rows_loaded, rows_rejected, rows_duplicate "
            "from marts.ops_ingest_runs"
        ).fetchall()
        (province_points,) = warehouse.execute(
            "select total_points from marts.kpi_766_score_unit_month where unit_level ="
            " 'province' order by period_month desc limit 1"
        ).fetchone()
        (kpi_rows,) = warehouse.execute(
            "select count(*) from marts.kpi_unit_month "
            "where kpi_code like '766.%' and boundaries = 'current'"
        ).fetchone()
    assert runs and all(r[0] == r[1] + r[2] + r[3] and r[1] > 0 for r in runs)

    # The portal lists the dataset with every row of the indicators.
    search = httpx.get(
        f"{settings.ckan_url}/api/3/action/package_search",
        params={"q": "Bộ chỉ số 766 theo đơn vị và tháng"},
    ).json()["result"]
    (found,) = [d for d in search["results"] if d["name"] == DATASET]
    datastore = next(r for r in found["resources"] if r["datastore_active"])
    rows = httpx.get(
        f"{settings.ckan_url}/api/3/action/datastore_search",
        params={"resource_id": datastore["id"], "limit": 0},
    ).json()["result"]["total"]
    assert rows == kpi_rows
    assert DATASET in httpx.get(f"{settings.ckan_url}/dataset").text

    # The leaders' dashboard shows the same figure, every chart with data and no error.
    superset.deploy(settings)
    with chromium() as browser:
        page = logged_in_page(browser, settings)
        try:
            charts = open_dashboard(page, settings)
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "end_to_end_dashboard.png"), full_page=True)
    assert len(charts) == chart_count()
    for chart in charts:
        assert not chart["errors"], chart
        assert chart["graphics"] or chart["rows"] or chart["bigNumber"], chart
    (big,) = [c for c in charts if c["title"] == "Tổng điểm Bộ chỉ số 766 (thang 100)"]
    assert big["bigNumber"] == vietnamese(province_points, 1)


def test_no_test_database_is_left_behind() -> None:
    """Runs last in this module: the fixtures above dropped what they created."""
    with psycopg.connect(PG_ADMIN_URL) as connection:
        left = connection.execute(
            "select datname from pg_database where datname like 'gde2e_%'"
        ).fetchall()
    assert left == []
