"""Airflow runs the platform: real deployments (API server, scheduler, DAG processor; metadata
in PostgreSQL) started here, driven through their REST API as an operator would.

One LocalExecutor deployment on DuckDB serves most tests, in order: a three-day backfill,
every DAG end to end (the asset updates trigger the build, which publishes to a real CKAN
portal), a stale source and a failing dbt test each stopping the run before publishing with an
alert received by a local SMTP sink and a webhook receiver, and a source error retried. A
second deployment runs the same DAGs under the CeleryExecutor (a worker process, the local
Redis as broker, PostgreSQL as result backend) on the PostgreSQL warehouse.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from aiosmtpd.controller import Controller
from browser import ARTIFACTS, airflow_dags_whose_last_run, airflow_page, chromium
from conftest import PG_ADMIN_URL, require_postgres
from sqlalchemy.engine import make_url

from core.settings import Settings, load_settings
from govdata import pipeline
from govdata.services import airflow, free_port
from govdata.services.airflow import BUILD_DAG, INGESTION_DAGS, AirflowClient
from govdata.services.ckan import CkanError, CkanPortal
from ingestion.ledger import DayWindow

pytestmark = [pytest.mark.server, pytest.mark.timeout(1500)]
BACKFILL = (date(2025, 6, 2), date(2025, 6, 4))  # three days of document batches
PII_KEY = "airflow-test-key"


# --- alert receivers ------------------------------------------------------------------------


class Inbox:
    """What the SMTP sink and the webhook receiver got."""

    def __init__(self) -> None:
        self.mails: list[dict[str, str]] = []
        self.posts: list[dict[str, Any]] = []

    def clear(self) -> None:
        self.mails.clear()
        self.posts.clear()

    def wait(self, count: int = 1, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.mails) < count or len(self.posts) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"no alert received: {self.mails} {self.posts}", pytrace=False)
            time.sleep(0.5)


class _Sink:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content)
        self.inbox.mails.append(
            {"subject": str(message["Subject"]), "body": message.get_payload(decode=True).decode()}
        )
        return "250 OK"


@pytest.fixture(scope="module")
def inbox() -> Iterator[tuple[Inbox, int, int]]:
    """A local SMTP sink and a webhook receiver; yields them with their ports."""
    received = Inbox()
    smtp_port = free_port()
    controller = Controller(_Sink(received), hostname="127.0.0.1", port=smtp_port)
    controller.start()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.posts.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            return

    http = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    yield received, smtp_port, http.server_address[1]
    http.shutdown()
    controller.stop()


# --- deployments ----------------------------------------------------------------------------


def _environment(home: Path, tag: str, smtp_port: int, webhook_port: int) -> dict[str, str]:
    return {
        "GOVDATA_HOME": str(home),
        "GOVDATA_PII_HASH_KEY": PII_KEY,
        "GOVDATA_TASK_RETRIES": "2",
        "GOVDATA_TASK_RETRY_DELAY_SECONDS": "4",
        "GOVDATA_AIRFLOW_PORT": str(free_port()),
        "GOVDATA_AIRFLOW_METADATA_URL": f"postgresql://postgres@127.0.0.1:5432/{tag}_airflow",
        "GOVDATA_AIRFLOW_PARALLELISM": "2",
        "GOVDATA_ALERT_SMTP_HOST": "127.0.0.1",
        "GOVDATA_ALERT_SMTP_PORT": str(smtp_port),
        "GOVDATA_ALERT_EMAIL_TO": "data-team@example.org",
        "GOVDATA_ALERT_WEBHOOK_URL": f"http://127.0.0.1:{webhook_port}/alerts",
        "GOVDATA_CKAN_URL": f"http://127.0.0.1:{free_port()}",
        "GOVDATA_CKAN_DB_URL": f"postgresql://{tag}@127.0.0.1:5432/{tag}",
        "GOVDATA_CKAN_DATASTORE_WRITE_URL": f"postgresql://{tag}@127.0.0.1:5432/{tag}_ds",
        "GOVDATA_CKAN_DATASTORE_READ_URL": f"postgresql://{tag}_ro@127.0.0.1:5432/{tag}_ds",
        "GOVDATA_CKAN_REDIS_URL": "redis://127.0.0.1:6379/13",
        # Its own Superset: the dashboards task must never re-point the demo's.
        "GOVDATA_SUPERSET_PORT": str(free_port()),
        "GOVDATA_SUPERSET_METADATA_URL": f"postgresql://postgres@127.0.0.1:5432/{tag}_superset",
    }


def _drop_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory,
    small_sources: Path,
    inbox: tuple[Inbox, int, int],
) -> Iterator[Settings]:
    """The module's settings, home and sources, with a CKAN portal of its own."""
    require_postgres()
    home = tmp_path_factory.mktemp("airflow-home")
    shutil.copytree(small_sources, home / "sources")  # a test takes a source away for a while
    tag = f"gdaf_{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("GOVDATA_")]:
            patch.delenv(name)
        for name, value in _environment(home, tag, inbox[1], inbox[2]).items():
            patch.setenv(name, value)
        settings = load_settings()
        portal = CkanPortal(settings)
        try:
            try:
                portal.up(timeout=240)
            except CkanError as error:
                pytest.fail(f"the local CKAN portal could not start: {error}", pytrace=False)
            yield settings
        finally:
            portal.stop()
            portal.drop_databases(drop_roles=True)


@pytest.fixture(scope="module")
def deployment(platform: Settings) -> Iterator[Settings]:
    """A LocalExecutor Airflow on DuckDB for the module."""
    try:
        started = time.monotonic()
        airflow.up(platform)
        print(f"Airflow (LocalExecutor) up in {time.monotonic() - started:.1f} s")
        yield platform
    finally:
        airflow.down(platform)
        _drop_database(make_url(platform.airflow_metadata_url).database or "")
        _drop_database(make_url(platform.superset_metadata_url).database or "")


@pytest.fixture(scope="module")
def client(deployment: Settings) -> Iterator[AirflowClient]:
    with AirflowClient(deployment) as api:
        api.wait_for_dags([*INGESTION_DAGS, BUILD_DAG])
        yield api


def _states(api: AirflowClient, dag_id: str, run_id: str) -> dict[str, str | None]:
    return {task: ti["state"] for task, ti in api.task_instances(dag_id, run_id).items()}


def _read_only(path: Path) -> duckdb.DuckDBPyConnection:
    """The warehouse, read-only, once no writer holds it (a build the new raw rows triggered
    may be running)."""
    deadline = time.monotonic() + 600
    while True:
        try:
            return duckdb.connect(str(path), read_only=True)
        except duckdb.IOException:
            assert time.monotonic() < deadline, f"{path} stayed locked for 10 min"
            time.sleep(2)


def _raw_rows(settings: Settings, table: str) -> list[tuple[Any, ...]]:
    """A raw table's rows without the lineage columns that name the run."""
    with _read_only(settings.warehouse_path) as warehouse:
        columns = [
            c
            for (c,) in warehouse.execute(
                "select column_name from information_schema.columns where table_schema = 'raw' "
                "and table_name = ? and column_name not in ('_run_id', '_loaded_at') "
                "order by ordinal_position",
                [table.removeprefix("raw.")],
            ).fetchall()
        ]
        listed = ", ".join(f'"{c}"' for c in columns)
        return sorted(warehouse.execute(f"select {listed} from {table}").fetchall(), key=repr)


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the tests, in the order they run -------------------------------------------------------


def test_a_three_day_backfill_loads_what_one_run_over_the_days_loads(
    deployment: Settings, client: AirflowClient, tmp_path: Path
) -> None:
    dag_id = "govdata_ingest_documents"
    client.unpause(dag_id)  # the build stays paused: this test is about the raw rows
    first, last = BACKFILL
    # Daily runs at local midnight: the runs whose data intervals are the three days.
    client.backfill(dag_id, first, last)
    deadline = time.monotonic() + 300
    while True:
        runs = [r for r in client.runs(dag_id) if r["run_type"] == "backfill"]
        if len(runs) >= 3 and all(r["state"] in ("success", "failed") for r in runs):
            break
        assert time.monotonic() < deadline, runs
        time.sleep(2)
    assert len(runs) == 3 and {r["state"] for r in runs} == {"success"}, runs
    windows = sorted(
        {r["watermark"] for run in runs for r in client.xcom(dag_id, run["dag_run_id"], "ingest")}
    )
    assert windows == [f"{first:%Y-%m-%d}", "2025-06-03", f"{last:%Y-%m-%d}"]

    # One run over the same three days, by the same function, into another warehouse.
    other = tmp_path / "one-run"
    other.mkdir()
    (other / "sources").symlink_to(deployment.home / "sources", target_is_directory=True)
    one_run = load_settings(home=other)
    results = pipeline.ingest_system(one_run, "documents", DayWindow(first, last))
    assert all(r.counts.reconciles and r.counts.loaded for r in results), results
    for table in ("raw.documents__register", "raw.documents__messages", "raw.documents__status"):
        assert _raw_rows(deployment, table) == _raw_rows(one_run, table), table


def test_every_dag_end_to_end_and_the_asset_updates_trigger_the_build(
    deployment: Settings, client: AirflowClient, inbox: tuple[Inbox, int, int]
) -> None:
    started = time.monotonic()
    last = airflow.run_once(deployment, timeout=900)
    print(f"every DAG end to end on DuckDB in {time.monotonic() - started:.1f} s")
    assert {d: r["state"] for d, r in last.items()} == dict.fromkeys(
        (*INGESTION_DAGS, BUILD_DAG), "success"
    )
    build = last[BUILD_DAG]
    assert build["run_type"] == "asset_triggered"
    assert _states(client, BUILD_DAG, build["dag_run_id"]) == {
        "source_freshness": "success",
        "reconciliation": "success",
        "build": "success",
        "publish": "success",
        "refresh_dashboards": "skipped",  # no Superset in this test
    }
    # The counts a person reads in the UI: per source, reconciled.
    manual = {
        d: next(r for r in client.runs(d) if r["run_type"] == "manual") for d in INGESTION_DAGS
    }
    for dag_id, run in manual.items():
        counts = client.xcom(dag_id, run["dag_run_id"], "ingest")
        assert counts, dag_id
        for c in counts:
            assert c["read"] == c["loaded"] + c["rejected"] + c["duplicate"], c
    documents = client.xcom(
        "govdata_ingest_documents", manual["govdata_ingest_documents"]["dag_run_id"], "ingest"
    )
    assert all(c["loaded"] > 0 for c in documents)  # the days after the backfill's
    summary = client.xcom(BUILD_DAG, build["dag_run_id"], "build")
    assert summary["dbt_nodes"] > 100
    published = client.xcom(BUILD_DAG, build["dag_run_id"], "publish")
    assert published and all(isinstance(p, str) for p in published)
    assert deployment.serving_path.is_file()
    assert inbox[0].mails == [] and inbox[0].posts == []  # nothing failed: no alert

    # What the data team sees: logged into the UI, the last run of every DAG succeeded.
    with chromium() as browser:
        page = airflow_page(browser, deployment)
        succeeded = airflow_dags_whose_last_run(page, deployment, "success")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "airflow_dags.png"), full_page=True)
        failed = airflow_dags_whose_last_run(page, deployment, "failed")
    assert succeeded == sorted((*INGESTION_DAGS, BUILD_DAG)) and failed == []


def _trigger_build(client: AirflowClient) -> tuple[str, dict[str, str | None]]:
    run_id = client.trigger(BUILD_DAG)
    run = client.wait(BUILD_DAG, run_id, timeout=600)
    return run["state"], _states(client, BUILD_DAG, run_id)


def test_a_stale_source_stops_publishing_and_alerts(
    deployment: Settings, client: AirflowClient, inbox: tuple[Inbox, int, int]
) -> None:
    received = inbox[0]
    received.clear()
    serving = _checksum(deployment.serving_path)
    aged = "update raw.procedures__dossiers set _loaded_at = _loaded_at - interval 30 day"
    with duckdb.connect(str(deployment.warehouse_path)) as warehouse:
        warehouse.execute(aged)
    try:
        state, states = _trigger_build(client)
    finally:
        with duckdb.connect(str(deployment.warehouse_path)) as warehouse:
            warehouse.execute(aged.replace("- interval", "+ interval"))
    assert state == "failed"
    assert states["source_freshness"] == "failed"
    assert states["build"] == states["publish"] == "upstream_failed", states
    assert _checksum(deployment.serving_path) == serving  # readers keep the last good copy
    received.wait()
    (mail,), (post,) = received.mails, received.posts
    assert post["dag_id"] == BUILD_DAG and post["task_id"] == "source_freshness"
    assert post["source"] == "procedures"
    assert "procedures.procedures__dossiers" in post["reason"] and "7 day" in post["reason"]
    assert "govdata_build.source_freshness (procedures)" in mail["subject"]
    assert "procedures__dossiers" in mail["body"]


def test_a_failing_dbt_test_stops_publishing_and_alerts(
    deployment: Settings, client: AirflowClient, inbox: tuple[Inbox, int, int]
) -> None:
    received = inbox[0]
    received.clear()
    serving = _checksum(deployment.serving_path)
    with duckdb.connect(str(deployment.warehouse_path)) as warehouse:
        # A regime listed twice: the staging model's unique test on its code fails.
        warehouse.execute(
            "insert into raw.reports__regimes select * from raw.reports__regimes limit 1"
        )
    try:
        state, states = _trigger_build(client)
    finally:
        with duckdb.connect(str(deployment.warehouse_path)) as warehouse:
            warehouse.execute(
                "delete from raw.reports__regimes "
                "where rowid = (select max(rowid) from raw.reports__regimes)"
            )
    assert state == "failed"
    assert states["source_freshness"] == states["reconciliation"] == "success"
    assert states["build"] == "failed"
    assert states["publish"] == states["refresh_dashboards"] == "upstream_failed", states
    assert _checksum(deployment.serving_path) == serving
    received.wait()
    (post,) = received.posts
    assert post["task_id"] == "build" and post["source"] == "warehouse"
    assert "unique_combination_stg_reports__regimes_province_code__regime_code" in post["reason"]


def test_a_source_error_is_retried_then_succeeds(
    deployment: Settings, client: AirflowClient, inbox: tuple[Inbox, int, int]
) -> None:
    received = inbox[0]
    received.clear()
    dag_id = "govdata_ingest_documents"
    documents = deployment.home / "sources" / "documents"
    away = documents.with_name("documents.away")
    documents.rename(away)  # the document system's export share is not mounted
    try:
        run_id = client.trigger(dag_id)
        deadline = time.monotonic() + 300
        while (
            state := client.task_instances(dag_id, run_id).get("ingest", {}).get("state")
        ) != "up_for_retry":
            assert state not in ("success", "failed"), state
            assert time.monotonic() < deadline
            time.sleep(0.3)
    finally:
        away.rename(documents)  # back before the retry
    run = client.wait(dag_id, run_id, timeout=300)
    assert run["state"] == "success"
    ingest = client.task_instances(dag_id, run_id)["ingest"]
    assert ingest["state"] == "success" and ingest["try_number"] >= 2
    assert received.mails == [] and received.posts == []  # a retried failure alerts nobody


def _task_process(ti_id: str) -> int | None:
    """The pid of the process running a task instance (Airflow titles it with the TI's id)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if f"airflow worker -- {ti_id}" in title:
                return int(entry.name)
    return None


def test_a_task_killed_mid_ingest_is_retried_and_loses_nothing(
    deployment: Settings, client: AirflowClient, tmp_path: Path
) -> None:
    """kill -9 of the task's process while it loads four months of new document days: Airflow
    retries it, the retry marks the killed run interrupted, deletes what it landed and never
    committed, and goes on after its last commit; the raw tables equal one uninterrupted load
    of the same sources, and each run's landing holds the parts it committed."""
    from simulator.generate import simulate

    later = tmp_path / "later"
    simulate(later, scale=0.005, seed=7, start=date(2025, 9, 1), end=date(2025, 12, 31))
    documents = deployment.home / "sources" / "documents"
    for day in sorted((later / "documents").iterdir()):
        shutil.copytree(day, documents / day.name)
    landing = deployment.home / "landing" / "source=documents.messages"
    landed_before = len(list(landing.rglob("*.parquet")))

    dag_id = "govdata_ingest_documents"
    run_id = client.trigger(dag_id)
    deadline = time.monotonic() + 300
    while (ingest := client.task_instances(dag_id, run_id).get("ingest", {})).get(
        "state"
    ) != "running" or len(list(landing.rglob("*.parquet"))) < landed_before + 5:
        assert ingest.get("state") not in ("success", "failed", "up_for_retry"), ingest
        assert time.monotonic() < deadline, "the ingest task did not start"
        time.sleep(0.05)
    pid = _task_process(ingest["id"])
    assert pid is not None, f"no process titled for task instance {ingest['id']}"
    os.kill(pid, 9)

    run = client.wait(dag_id, run_id, timeout=300)
    ingest = client.task_instances(dag_id, run_id)["ingest"]
    assert run["state"] == "success" and ingest["try_number"] >= 2, (run, ingest)

    one_run = load_settings(home=tmp_path / "one-run")
    one_run.home.mkdir()
    (one_run.home / "sources").symlink_to(deployment.home / "sources", target_is_directory=True)
    assert all(r.counts.reconciles for r in pipeline.ingest_system(one_run, "documents"))
    for table in ("raw.documents__register", "raw.documents__messages", "raw.documents__status"):
        assert _raw_rows(deployment, table) == _raw_rows(one_run, table), table
    with _read_only(deployment.warehouse_path) as warehouse:
        runs = warehouse.execute(
            "select run_id, source, status, parts_committed, "
            "rows_read = rows_loaded + rows_rejected + rows_duplicate "
            "from ops.ingest_runs where source like 'documents.%'"
        ).fetchall()
    assert any(status == "interrupted" for _, _, status, _, _ in runs), runs
    assert all(reconciles for *_, reconciles in runs), runs
    for run_of, source, _status, committed, _ in runs:
        parts = (deployment.home / "landing").glob(
            f"source={source}/load_date=*/run_id={run_of}-part=*.parquet"
        )
        assert len(list(parts)) == committed, (run_of, source)


def test_a_restart_keeps_an_operators_variable_and_one_writer(
    deployment: Settings, client: AirflowClient, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator changes a variable and raises the writer pool through the REST API, as the
    UI does; the provisioning every start runs keeps the variable and says so, and puts the
    DuckDB writer pool back to one slot, loudly (tests/test_airflow_provision.py: the rest)."""
    channels = "email trucban@tinh.gov.vn"
    client._call(
        "PATCH",
        "/variables/govdata_alert_channels",
        json={"key": "govdata_alert_channels", "value": channels},
    )
    pool = client._call("GET", f"/pools/{airflow.WAREHOUSE_WRITER_POOL}")
    client._call(
        "PATCH",
        f"/pools/{airflow.WAREHOUSE_WRITER_POOL}",
        json={"pool": pool["name"], "slots": 3, "include_deferred": pool["include_deferred"]},
    )
    with caplog.at_level(logging.WARNING, logger=airflow.__name__):
        airflow.run_provision(deployment)
    assert client._call("GET", "/variables/govdata_alert_channels")["value"] == channels
    assert client._call("GET", f"/pools/{airflow.WAREHOUSE_WRITER_POOL}")["slots"] == 1
    said = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert sorted(level for level, _ in said) == ["ERROR", "WARNING"], said
    (warning,), (error,) = ([m for level, m in said if level == lv] for lv in ("WARNING", "ERROR"))
    assert "kept variable govdata_alert_channels" in warning and repr(channels) in warning
    assert "had 3 slots (changed in Airflow): put back to 1" in error, said


# --- the same DAGs under the CeleryExecutor, on the PostgreSQL warehouse ---------------------


def test_celery_executor_runs_every_dag_on_postgres(
    platform: Settings, tmp_path: Path, pg_url: str, inbox: tuple[Inbox, int, int]
) -> None:
    """The same DAGs under Celery on PostgreSQL; a deadline of a few seconds makes every run
    late, and the data team hears of it."""
    received = inbox[0]
    received.clear()
    home = tmp_path / "celery-home"
    home.mkdir()
    (home / "sources").symlink_to(platform.home / "sources", target_is_directory=True)
    tag = f"gdcel_{uuid.uuid4().hex[:8]}"
    variables = {
        "GOVDATA_HOME": str(home),
        "GOVDATA_TARGET": "postgres",
        "GOVDATA_PG_URL": pg_url,
        "GOVDATA_AIRFLOW_EXECUTOR": "CeleryExecutor",
        "GOVDATA_AIRFLOW_PORT": str(free_port()),
        "GOVDATA_AIRFLOW_METADATA_URL": f"postgresql://postgres@127.0.0.1:5432/{tag}",
        "GOVDATA_AIRFLOW_CELERY_BROKER_URL": "redis://127.0.0.1:6379/10",
        "GOVDATA_AIRFLOW_CELERY_QUEUE": tag,  # another deployment's worker never takes them
        "GOVDATA_SUPERSET_PORT": str(free_port()),
        "GOVDATA_SUPERSET_METADATA_URL": f"postgresql://postgres@127.0.0.1:5432/{tag}_superset",
        "GOVDATA_RUN_DEADLINE_MINUTES": "0.2",
        # The same portal as the module's: its publisher token lives under that home.
        "GOVDATA_CKAN_API_TOKEN": platform.ckan_token() or "",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in variables.items():
            patch.setenv(name, value)
        settings = load_settings()
        try:
            started = time.monotonic()
            airflow.up(settings)
            assert airflow.running_pid(settings, "celery-worker") is not None
            last = airflow.run_once(settings, timeout=1200)
            print(f"Celery deployment on PostgreSQL: {time.monotonic() - started:.1f} s")
        finally:
            airflow.down(settings)
            _drop_database(tag)
            _drop_database(f"{tag}_superset")
    assert {d: r["state"] for d, r in last.items()} == dict.fromkeys(
        (*INGESTION_DAGS, BUILD_DAG), "success"
    )
    with psycopg.connect(pg_url) as connection:
        (rows,) = connection.execute("select count(*) from marts.kpi_unit_month").fetchone()
        runs = connection.execute(
            "select rows_read, rows_loaded + rows_rejected + rows_duplicate from ops.ingest_runs"
        ).fetchall()
    assert rows > 0 and runs and all(read == total for read, total in runs)
    log = (airflow.run_dir(settings) / "celery-worker.log").read_text(errors="replace")
    assert "Executing workload in Celery" in log and "govdata_build" in log
    late = [p for p in received.posts if p["kind"] == "late"]
    assert {p["dag_id"] for p in late} >= {BUILD_DAG}, received.posts
    assert all("not finished" in p["reason"] for p in late)
