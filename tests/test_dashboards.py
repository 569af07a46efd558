"""The Superset dashboards, end to end: a real Superset on a fixture warehouse, seen in Chromium.

One Superset (from .venv-superset, installed if missing) serves a temporary GOVDATA_HOME whose
serving copy is the fixture of tests/superset_fixtures.py, with a fresh metadata database of a
unique name in the local PostgreSQL and a free port. Headless Chromium (Debian's, never a
downloaded build) logs in through the UI, opens the dashboard and checks that every chart shows
the fixture's figures without error; it only talks to that server. A screenshot is left in
tests/artifacts/. Nothing is skipped: if Superset, PostgreSQL or Chromium cannot start, the
tests fail and say why.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import yaml
from browser import (
    ARTIFACTS,
    chart_count,
    chromium,
    logged_in_page,
    open_dashboard,
)
from playwright.sync_api import Browser, Page
from sqlalchemy.engine import make_url
from superset_fixtures import (
    MONTHS,
    latest_commune_ranking,
    latest_province_rate,
    write_kpi_postgres,
    write_kpi_warehouse,
)

from core.settings import Settings
from govdata.services import free_port, superset


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A running Superset with the assets imported, on the fixture warehouse."""
    home = tmp_path_factory.mktemp("govdata_home")
    base = Settings()
    metadata_url = (
        make_url(base.superset_metadata_url)
        .set(database=f"govdata_superset_test_{uuid.uuid4().hex[:12]}")
        .render_as_string(hide_password=False)
    )
    settings = Settings(
        home=home,
        target="duckdb",
        superset_port=free_port(),
        superset_host="127.0.0.1",
        superset_workers=1,
        superset_metadata_url=metadata_url,
        superset_admin_user="admin",
        superset_admin_password="test-admin-password",
    )
    write_kpi_warehouse(settings.serving_path)
    try:
        started = time.monotonic()
        url = superset.deploy(settings)
        print(f"Superset deployed in {time.monotonic() - started:.1f} s: {url}")
        yield settings
    except superset.SupersetError as error:
        pytest.fail(f"Superset could not be deployed: {error}")
    finally:
        superset.stop(settings)
        superset.drop_database(metadata_url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def _by_viz(charts: list[dict[str, object]], viz: str) -> list[dict[str, object]]:
    return [chart for chart in charts if chart["viz"] == viz]


def _check_dashboard(page: Page, charts: list[dict[str, object]]) -> None:
    """Every chart shows the fixture's figures, without error."""
    assert len(charts) == chart_count() == 5
    assert page.locator('[role="alert"], .ant-alert-error').count() == 0, [
        c["errors"] for c in charts
    ]
    for chart in charts:
        assert not chart["errors"], chart
        assert chart["graphics"] or chart["rows"] or chart["bigNumber"], chart

    # The province's latest month: the figure, not only a figure.
    (big,) = _by_viz(charts, "big_number")
    assert big["bigNumber"] == f"{latest_province_rate() * 100:.1f}%"
    (line,) = _by_viz(charts, "echarts_timeseries_line")
    assert line["graphics"]
    (bar,) = _by_viz(charts, "echarts_timeseries_bar")
    assert bar["graphics"]

    # The month filter defaults to the latest month and ranks its communes both ways.
    assert page.get_by_text(max(MONTHS).strftime("%Y-%m"), exact=True).count() >= 1
    ranking = latest_commune_ranking()
    tables = _by_viz(charts, "table")
    assert len(tables) == 2
    first_rows = sorted(str(t["rows"][0]) for t in tables)  # type: ignore[index]
    assert any(ranking[0] in row for row in first_rows), first_rows
    assert any(ranking[-1] in row for row in first_rows), first_rows
    for table in tables:
        assert len(table["rows"]) == min(10, len(ranking))  # type: ignore[arg-type]


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_dashboard_shows_every_chart_with_data(served: Settings, browser: Browser) -> None:
    page = logged_in_page(browser, served)
    try:
        charts = open_dashboard(page, served)
    finally:
        _screenshot(page, "superset_dashboard.png")
    _check_dashboard(page, charts)
    page.context.close()


def test_dashboard_on_the_postgresql_warehouse(served: Settings, browser: Browser) -> None:
    """GOVDATA_TARGET=postgres: the same assets read the same mart in PostgreSQL."""
    warehouse_url = (
        make_url(served.superset_metadata_url)
        .set(drivername="postgresql", database=f"govdata_wh_test_{uuid.uuid4().hex[:12]}")
        .render_as_string(hide_password=False)
    )
    on_postgres = served.model_copy(update={"target": "postgres", "pg_url": warehouse_url})
    superset.create_database(warehouse_url)
    try:
        write_kpi_postgres(warehouse_url)
        superset.import_assets(on_postgres)
        page = logged_in_page(browser, served)
        try:
            charts = open_dashboard(page, served)
        finally:
            _screenshot(page, "superset_dashboard_postgres.png")
        _check_dashboard(page, charts)
        page.context.close()
    finally:
        superset.import_assets(served)  # back to the DuckDB serving copy
        superset.drop_database(warehouse_url)


def test_dashboard_reads_the_serving_copy_after_it_is_replaced(
    served: Settings, browser: Browser
) -> None:
    """The pipeline replaces the serving file atomically; Superset must read the new one."""
    months = [*MONTHS, date(MONTHS[-1].year + 1, 1, 1)]
    fresh = served.serving_path.with_name("warehouse.duckdb.new")
    write_kpi_warehouse(fresh, months)
    os.replace(fresh, served.serving_path)
    try:
        page = logged_in_page(browser, served)
        charts = open_dashboard(page, served)
        (big,) = _by_viz(charts, "big_number")
        assert big["bigNumber"] == f"{latest_province_rate(months) * 100:.1f}%"
        page.context.close()
    finally:
        write_kpi_warehouse(served.serving_path)


def test_deploy_again_only_reimports(served: Settings) -> None:
    pid = superset.running_pid(served)
    assert pid is not None
    assert superset.deploy(served) == superset.dashboard_url(served)
    assert superset.running_pid(served) == pid
    assert superset.is_healthy(served)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        ("yaml", "invalid YAML"),
        ("schema", "slice_name"),
        ("reference", "not in bundle"),
    ],
)
def test_import_fails_loudly_on_a_broken_bundle(
    served: Settings, tmp_path: Path, breakage: str, message: str
) -> None:
    assets = tmp_path / "assets"
    shutil.copytree(superset.ASSETS_DIR, assets)
    chart = next((assets / "charts").glob("*.yaml"))
    config = yaml.safe_load(chart.read_text(encoding="utf-8"))
    if breakage == "yaml":
        chart.write_text("slice_name: [unclosed\n", encoding="utf-8")
    elif breakage == "schema":
        del config["slice_name"]
        chart.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    else:
        config["dataset_uuid"] = str(uuid.uuid4())
        chart.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    with pytest.raises(superset.SupersetError, match=message):
        superset.import_assets(served, assets)
