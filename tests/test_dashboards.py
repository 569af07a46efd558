"""The six Superset dashboards, end to end: a real Superset on a small built warehouse, seen in
Chromium.

One Superset (from .venv-superset, installed if missing) serves a temporary GOVDATA_HOME whose
warehouse is three months of the simulated province ingested and built by the pipeline
(tests/superset_fixtures.py), with a fresh metadata database of a unique name in the local
PostgreSQL and a free port. Headless Chromium (Debian's, never a downloaded build) logs in
through the UI and opens every dashboard: every chart-data query must succeed with rows, no
chart may show an error, and one figure per dashboard must equal the mart it reads.
Screenshots are left in tests/artifacts/. Nothing is skipped: if Superset, PostgreSQL or
Chromium cannot start, the tests fail and say why.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import httpx
import psycopg
import pytest
import yaml
from browser import ARTIFACTS, DASHBOARDS, chart_count, chromium, logged_in_page, open_dashboard
from conftest import SMALL_WINDOW, assert_no_secret_in, commands_started
from playwright.sync_api import Browser, Page
from sqlalchemy.engine import make_url
from superset_fixtures import build_small_warehouse, expected_figures

from core.settings import Settings
from core.warehouse import publish_serving_copy
from govdata.services import free_port, superset
from simulator.generate import simulate


def _metadata_url(base: Settings, prefix: str) -> str:
    return (
        make_url(base.superset_metadata_url)
        .set(database=f"{prefix}_{uuid.uuid4().hex[:12]}")
        .render_as_string(hide_password=False)
    )


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """conftest's small window, with 1% of the records spoiled as real exports are, so the
    data-quality dashboard has rejections to show."""
    out = tmp_path_factory.mktemp("faulty_sources")
    simulate(out, scale=0.005, seed=7, start=SMALL_WINDOW[0], end=SMALL_WINDOW[1], fault_rate=0.01)
    return out


#: The command lines Superset's first deployment started (set-up, import, server).
STARTED_BY_DEPLOY: list[list[str]] = []


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sources: Path) -> Iterator[Settings]:
    """A running Superset with the assets imported, on the small DuckDB warehouse."""
    home = tmp_path_factory.mktemp("govdata_home")
    metadata_url = _metadata_url(Settings(), "govdata_superset_test")
    settings = Settings(
        home=home,
        target="duckdb",
        superset_port=free_port(),
        superset_host="127.0.0.1",
        superset_workers=1,
        superset_metadata_url=metadata_url,
        superset_admin_user="admin",
        superset_admin_password="test-admin-password",
        superset_secret_key="test-secret-key-of-the-dashboards-module",
    )
    build_small_warehouse(settings, sources)
    try:
        started = time.monotonic()
        with commands_started() as commands:
            url = superset.deploy(settings)
        STARTED_BY_DEPLOY[:] = commands
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


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def check_dashboard(
    page: Page, settings: Settings, topic: str, expected: tuple[str, str], shot: str
) -> None:
    """Every chart of the dashboard shows data without error, and its figure is the mart's."""
    chart_data: list[dict[str, Any]] = []
    try:
        charts = open_dashboard(page, settings, topic, chart_data)
    finally:
        _screenshot(page, shot)
    assert len(charts) == chart_count(topic)
    assert page.locator('[role="alert"], .ant-alert-error').count() == 0, [
        (c["title"], c["errors"]) for c in charts
    ]
    for chart in charts:
        assert not chart["errors"], chart
        assert chart["graphics"] or chart["rows"] or chart["bigNumber"], chart
    # The chart-data API answered every chart's query, each with rows.
    assert len(chart_data) >= len(charts), chart_data
    for answer in chart_data:
        assert answer["status"] == 200, answer
        for query in answer["body"]["result"]:
            assert query.get("error") is None and query["status"] == "success", answer
            assert query["rowcount"] > 0, (answer["url"], query.get("query"))
    title, figure = expected
    (shown,) = [c["bigNumber"] for c in charts if c["title"] == title]
    assert shown == figure, (topic, title, shown, figure)


@pytest.mark.parametrize("topic", list(DASHBOARDS))
def test_every_dashboard_shows_every_chart_with_data(
    served: Settings, browser: Browser, topic: str
) -> None:
    figures = expected_figures(served)
    page = logged_in_page(browser, served)
    try:
        check_dashboard(page, served, topic, figures[topic], f"dashboard_{topic}.png")
    finally:
        page.context.close()


@pytest.mark.timeout(900)
def test_dashboards_on_the_postgresql_warehouse(
    served: Settings, browser: Browser, sources: Path, tmp_path: Path
) -> None:
    """GOVDATA_TARGET=postgres: the same assets read the same marts built in PostgreSQL."""
    warehouse_url = (
        make_url(served.superset_metadata_url)
        .set(drivername="postgresql", database=f"govdata_wh_test_{uuid.uuid4().hex[:12]}")
        .render_as_string(hide_password=False)
    )
    on_postgres = served.model_copy(
        update={"target": "postgres", "pg_url": warehouse_url, "home": tmp_path / "home"}
    )
    superset.create_database(warehouse_url)
    try:
        build_small_warehouse(on_postgres, sources)
        figures = expected_figures(on_postgres)
        superset.import_assets(on_postgres)
        check_the_reader_only_reads_the_marts(on_postgres)
        page = logged_in_page(browser, served)
        try:
            for topic in DASHBOARDS:
                check_dashboard(
                    page, served, topic, figures[topic], f"dashboard_{topic}_postgres.png"
                )
        finally:
            page.context.close()
    finally:
        superset.import_assets(served)  # back to the DuckDB serving copy
        superset.drop_database(warehouse_url)


def check_the_reader_only_reads_the_marts(settings: Settings) -> None:
    """Superset reaches PostgreSQL as the read-only role: it reads the marts, and neither
    writes nor reads the ledger (rejected payloads) or the raw layer."""
    assert superset.warehouse_uri(settings).split("@")[0].endswith(settings.warehouse_reader)
    with psycopg.connect(superset.reader_url(settings), autocommit=True) as reader:
        assert reader.execute("select count(*) from marts.kpi_unit_month").fetchone()[0] > 0
        assert reader.execute("select count(*) from marts.ops_build_tests").fetchone()[0] > 0
        for statement in (
            "create table marts.reader_scratch (x int)",
            "delete from marts.kpi_unit_month",
            "select count(*) from ops.rejected_records",
            "select count(*) from raw.procedures__dossiers",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(statement)


def _api_session(
    settings: Settings, username: str | None = None, password: str | None = None
) -> httpx.Client:
    """A client logged in to Superset's API (JWT), as the admin unless told."""
    client = httpx.Client(base_url=superset.base_url(settings), timeout=60)
    login = client.post(
        "/api/v1/security/login",
        json={
            "username": username or settings.superset_admin_user,
            "password": password or settings.superset_admin_password,
            "provider": "db",
        },
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


#: An ad hoc metric: every dataset has it, whatever metrics it declares.
ROW_COUNT = {"expressionType": "SQL", "sqlExpression": "COUNT(*)", "label": "rows"}


def count_rows(client: httpx.Client, dataset_id: int, groupby: list[str]) -> httpx.Response:
    """The chart-data API's answer to a count of a dataset's rows (grouped by ``groupby``)."""
    return client.post(
        "/api/v1/chart/data",
        json={
            "datasource": {"id": dataset_id, "type": "table"},
            "queries": [{"metrics": [ROW_COUNT], "columns": groupby, "row_limit": 1000}],
            "result_format": "json",
            "result_type": "full",
        },
    )


def dataset_ids(client: httpx.Client) -> dict[str, int]:
    answer = client.get("/api/v1/dataset/", params={"q": "(page_size:100)"}).json()
    return {dataset["table_name"]: dataset["id"] for dataset in answer["result"]}


def test_charts_queried_while_the_serving_copy_is_swapped_get_no_error(
    served: Settings,
) -> None:
    """The pipeline swaps the serving copy after each build; readers never see an error."""
    with closing(_api_session(served)) as client:
        datasets = list(dataset_ids(client).values())
        assert len(datasets) >= 15
        failures: list[str] = []
        answers = 0
        stop = threading.Event()

        def query() -> None:
            nonlocal answers
            while not stop.is_set():
                for dataset_id in datasets:
                    answer = count_rows(client, dataset_id, [])
                    answers += 1
                    if answer.status_code != 200 or answer.json()["result"][0].get("error"):
                        failures.append(f"dataset {dataset_id}: {answer.status_code} {answer.text}")

        reader = threading.Thread(target=query)
        reader.start()
        swaps = 0
        deadline = time.monotonic() + 300
        try:  # swap until the reader has gone over every dataset twice, and at least 5 times
            while (swaps < 5 or answers < 2 * len(datasets)) and time.monotonic() < deadline:
                publish_serving_copy(served)
                swaps += 1
                time.sleep(0.2)
        finally:
            stop.set()
            reader.join()
    assert swaps >= 5 and answers >= 2 * len(datasets), (swaps, answers)
    assert not failures, failures[:3]


def test_the_dashboards_read_a_new_build_without_an_import(served: Settings) -> None:
    """A green build swaps in a new serving copy; the next query reads it (no cache, the file
    opened per query), so the build's refresh need not import anything for new data."""
    with closing(_api_session(served)) as client:
        dossiers = dataset_ids(client)["proc_dossiers_month"]

        def rows() -> int:
            return int(count_rows(client, dossiers, []).json()["result"][0]["data"][0]["rows"])

        before = rows()
        newer = served.serving_path.with_suffix(".duckdb.new")
        shutil.copy(served.serving_path, newer)
        with duckdb.connect(str(newer)) as copy:
            copy.execute(
                "insert into marts.proc_dossiers_month"
                " select * from marts.proc_dossiers_month limit 1"
            )
        os.replace(newer, served.serving_path)  # as a build swaps its copy in
        try:
            assert rows() == before + 1
        finally:
            publish_serving_copy(served)  # the warehouse's own marts again
        assert rows() == before


def _commune_with_most_dossiers(settings: Settings) -> tuple[str, str]:
    """Two communes of today with dossiers: (the one with most, another one)."""
    with duckdb.connect(str(settings.serving_path), read_only=True) as warehouse:
        rows = warehouse.execute(
            "select current_commune_code from marts.proc_dossiers_month"
            " where current_commune_code is not null"
            " group by 1 order by sum(received_count) desc, 1 limit 2"
        ).fetchall()
    return rows[0][0], rows[1][0]


def test_a_commune_user_sees_only_its_commune(served: Settings, browser: Browser) -> None:
    """Row-level security: in the UI (the communes' ranking table shows one row, its own)
    and through the chart-data API (another commune's rows never come back)."""
    mine, other = _commune_with_most_dossiers(served)
    user, password = f"xa-{mine}", served.superset_demo_password
    page = logged_in_page(browser, served, user, password)
    try:
        # The province's charts have no row for a commune: they say so, without error.
        charts = open_dashboard(page, served, "kpi", allow_empty=True)
        _screenshot(page, "dashboard_kpi_commune_user.png")
    finally:
        page.context.close()
    (ranking,) = [c for c in charts if c["title"] == "Xếp hạng xã, phường theo tổng điểm"]
    rows: list[str] = ranking["rows"]  # type: ignore[assignment]
    assert len(rows) == 1 and rows[0].startswith(mine), rows

    with closing(_api_session(served, user, password)) as client:
        datasets = dataset_ids(client)
        assert "ops_ingest_runs" not in datasets  # the data team's datasets are not a commune's
        seen = count_rows(client, datasets["proc_dossiers_month"], ["current_commune_code"])
        assert seen.status_code == 200, seen.text
        assert {r["current_commune_code"] for r in seen.json()["result"][0]["data"]} == {mine}
        scores = count_rows(client, datasets["kpi_766_score_unit_month"], ["unit_code"])
        assert {r["unit_code"] for r in scores.json()["result"][0]["data"]} == {mine}
        # Asking for another commune by name gives nothing, not its rows.
        asked = client.post(
            "/api/v1/chart/data",
            json={
                "datasource": {"id": datasets["proc_dossiers_month"], "type": "table"},
                "queries": [
                    {
                        "metrics": [ROW_COUNT],
                        "columns": ["current_commune_code"],
                        "filters": [{"col": "current_commune_code", "op": "==", "val": other}],
                    }
                ],
                "result_format": "json",
                "result_type": "full",
            },
        )
        assert asked.status_code == 200, asked.text
        assert asked.json()["result"][0]["data"] == []
        # The data team's datasets are refused.
        with closing(_api_session(served)) as admin:
            ops_id = dataset_ids(admin)["ops_ingest_runs"]
        assert count_rows(client, ops_id, []).status_code in (403, 404)


def test_an_analyst_reads_the_marts_in_sql_lab_and_cannot_write(served: Settings) -> None:
    with closing(_api_session(served, "phantich", served.superset_demo_password)) as client:
        client.headers["X-CSRFToken"] = client.get("/api/v1/security/csrf_token/").json()["result"]
        client.headers["Referer"] = superset.base_url(served)
        (database_id,) = [
            d["id"]
            for d in client.get("/api/v1/database/").json()["result"]
            if d["expose_in_sqllab"]
        ]

        def run(sql: str) -> httpx.Response:
            return client.post(
                "/api/v1/sqllab/execute/",
                json={"database_id": database_id, "sql": sql, "schema": "marts",
                      "runAsync": False, "queryLimit": 100},
            )  # fmt: skip

        read = run("select count(*) as n from marts.kpi_unit_month")
        assert read.status_code == 200, read.text
        assert read.json()["data"][0]["n"] > 0
        for statement in (
            "create table marts.analyst_scratch as select 1 as x",
            "delete from marts.kpi_unit_month",
            "drop table marts.kpi_unit_month",
        ):
            refused = run(statement)
            assert refused.status_code >= 400, (statement, refused.text)
        # Outside the marts (the ledger, the raw layer) SQL Lab refuses to read.
        assert run("select count(*) from ops.ingest_runs").status_code >= 400
    with duckdb.connect(str(served.serving_path), read_only=True) as warehouse:
        assert warehouse.execute("select count(*) from marts.kpi_unit_month").fetchone()[0] > 0


def test_an_anonymous_visitor_is_sent_to_the_login_page(served: Settings) -> None:
    with httpx.Client(base_url=superset.base_url(served), timeout=60) as anonymous:
        for path in (
            urlsplit(superset.dashboard_url(served)).path,
            "/superset/dashboard/list/",
            "/sqllab/",
        ):
            answer = anonymous.get(path, follow_redirects=True)
            assert "/login" in str(answer.url), (path, answer.url)
        assert anonymous.get("/api/v1/dashboard/").status_code == 401
        assert anonymous.post("/api/v1/chart/data", json={}).status_code in (400, 401)


def test_the_serving_copy_holds_the_marts_alone(served: Settings) -> None:
    """No raw layer, no ops ledger (rejected payloads): readers see the marts."""
    with duckdb.connect(str(served.serving_path), read_only=True) as warehouse:
        schemas = {
            name
            for (name,) in warehouse.execute(
                "select distinct table_schema from information_schema.tables"
            ).fetchall()
        }
    assert schemas == {"marts"}


def test_a_production_deployment_refuses_default_passwords(tmp_path: Path) -> None:
    production = Settings(home=tmp_path, deployment="production")
    with pytest.raises(superset.SupersetError, match="GOVDATA_SUPERSET_ADMIN_PASSWORD"):
        superset.deploy(production)
    on_postgres = production.model_copy(
        update={"superset_admin_password": "a-long-secret", "target": "postgres"}
    )
    with pytest.raises(superset.SupersetError, match="GOVDATA_WAREHOUSE_READER_PASSWORD"):
        superset.deploy(on_postgres)


def _writing(client: httpx.Client, settings: Settings) -> httpx.Client:
    """The client with the CSRF token and referer the UI sends with its changes."""
    client.headers["X-CSRFToken"] = client.get("/api/v1/security/csrf_token/").json()["result"]
    client.headers["Referer"] = superset.base_url(settings)
    return client


def _dashboard_title(client: httpx.Client, settings: Settings, topic: str) -> tuple[int, str]:
    slug = settings.profile.dashboard_slug(topic)
    answer = client.get(f"/api/v1/dashboard/{slug}")
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]["id"], answer.json()["result"]["dashboard_title"]


def _login_status(settings: Settings, password: str) -> int:
    with httpx.Client(base_url=superset.base_url(settings), timeout=60) as client:
        answer = client.post(
            "/api/v1/security/login",
            json={"username": settings.superset_admin_user, "password": password,
                  "provider": "db"},
        )  # fmt: skip
        return answer.status_code


def test_deploying_again_keeps_what_was_changed_in_the_ui(
    served: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The admin changes their password, a leader renames a dashboard and someone widens a
    commune's row-level filter, through Superset's API as the UI does. Deploying again (what
    the build's refresh does too, the admin aside) keeps the password and the title (the bundle
    is unchanged: no import) and puts the filter back with a warning; a changed bundle
    overwrites the dashboard only after saving it, with a warning naming it."""
    pid = superset.running_pid(served)
    assert pid is not None
    password = "changed-in-the-ui"
    with closing(_writing(_api_session(served), served)) as admin:
        assert admin.put("/api/v1/me/", json={"password": password}).status_code == 200
        kpi, title = _dashboard_title(admin, served, "kpi")
        renamed = f"{title} (bản lãnh đạo sửa)"
        answer = admin.put(f"/api/v1/dashboard/{kpi}", json={"dashboard_title": renamed})
        assert answer.status_code == 200, answer.text
        filters = admin.get("/api/v1/rowlevelsecurity/", params={"q": "(page_size:1)"})
        (rls,) = filters.json()["result"]
        shown = admin.get(f"/api/v1/rowlevelsecurity/{rls['id']}").json()["result"]
        widened = {
            "name": shown["name"],
            "filter_type": shown["filter_type"],
            "clause": "1 = 1",
            "roles": [role["id"] for role in shown["roles"]],
            "tables": [table["id"] for table in shown["tables"]],
        }  # the whole filter, as the UI's form sends it
        answer = admin.put(f"/api/v1/rowlevelsecurity/{rls['id']}", json=widened)
        assert answer.status_code == 200, answer.text
    try:
        with caplog.at_level(logging.INFO, logger=superset.__name__):
            assert superset.deploy(served) == superset.dashboard_url(served)
        assert superset.running_pid(served) == pid
        said = [(r.levelname, r.getMessage()) for r in caplog.records]
        assert any(m.startswith("Superset: the bundle is as imported on") for _, m in said), said
        (put_back,) = [m for level, m in said if level == "WARNING"]
        assert f"row-level filter {rls['name']!r}: clause put back (clause was '1 = 1')" in (
            put_back
        )
        assert _login_status(served, served.superset_admin_password) == 401
        with closing(_api_session(served, password=password)) as admin:
            assert _dashboard_title(admin, served, "kpi") == (kpi, renamed)
            clause = admin.get(f"/api/v1/rowlevelsecurity/{rls['id']}").json()["result"]
            assert clause["clause"] == rls["clause"] != "1 = 1"

        # A new bundle (a chart's description changed) is imported, the rename saved first.
        assets = tmp_path / "assets"
        shutil.copytree(superset.ASSETS_DIR, assets)
        chart = next((assets / "charts").glob("*.yaml"))
        config = yaml.safe_load(chart.read_text(encoding="utf-8"))
        config["description"] = f"{config.get('description') or ''} (sửa)"
        chart.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        changed = superset.import_assets(served, assets)
        assert changed.imported and changed.backup is not None, changed
        (warning,) = changed.warnings  # the dashboard renamed, and nothing else
        saved = changed.backup / "dashboards.zip"
        assert renamed in warning and str(saved) in warning, warning
        with zipfile.ZipFile(saved) as backup:
            dashboards = [n for n in backup.namelist() if "/dashboards/" in n]
            assert [yaml.safe_load(backup.read(n))["dashboard_title"] for n in dashboards] == [
                renamed
            ]
        with closing(_api_session(served, password=password)) as admin:
            assert _dashboard_title(admin, served, "kpi") == (kpi, title)
    finally:  # the module's bundle and admin password again (explicitly reset)
        restored = superset.import_assets(served, reset_admin_password=True)
    assert restored.imported and restored.backup is None and not restored.warnings, restored
    assert _login_status(served, served.superset_admin_password) == 200


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


def test_no_password_or_key_on_a_command_line(served: Settings) -> None:
    """`ps` shows every process's arguments to every user of the machine: Superset's set-up,
    import and server get their passwords and keys from the environment."""
    assert_no_secret_in(
        STARTED_BY_DEPLOY,
        {
            "the admin password": served.superset_admin_password,
            "the demo users' password": served.superset_demo_password,
            "the secret key": served.superset_secret_key,
            "the metadata database password": make_url(served.superset_metadata_url).password,
        },
    )
