"""Shared fixtures. Servers the tests need are started for real; a missing one fails loudly."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

# Airflow reads its configuration once, at first import: point it at a throw-away home and
# metadata database before any test module imports it. dbt writes its manifest, run results
# and partial-parse state under its target path: one per test process, as `make test` runs two
# (pytest-xdist) that build at the same time. Once per process: this module is imported twice
# when a test imports it as `tests.conftest`, and a second home would leave Airflow (already
# configured) reading another database than the one the tests initialise.
if os.environ.get("GOVDATA_TESTS_PID") != str(os.getpid()):
    os.environ["GOVDATA_TESTS_PID"] = str(os.getpid())
    _AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="govdata-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_AIRFLOW_HOME}/airflow.db"
    os.environ["DBT_TARGET_PATH"] = tempfile.mkdtemp(prefix="govdata-dbt-target-")
    os.environ["DBT_LOG_PATH"] = tempfile.mkdtemp(prefix="govdata-dbt-logs-")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parent.parent / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] = "False"
os.environ["DBT_SEND_ANONYMOUS_USAGE_STATS"] = "false"

import psycopg
import pytest

from simulator.generate import simulate

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# A small window is enough to exercise every path; the benchmarks use full scale.
SMALL_WINDOW = (date(2025, 6, 1), date(2025, 8, 31))  # crosses the merger


def require_postgres() -> None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5):
            return
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is not reachable at 127.0.0.1:5432 ({error}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`",
            pytrace=False,
        )


@contextlib.contextmanager
def commands_started() -> Iterator[list[list[str]]]:
    """Every command line the code under test starts (subprocess.run and Popen), as ``ps``
    would show it to any user of the machine."""
    started: list[list[str]] = []
    original = subprocess.Popen

    class Recording(original):  # type: ignore[misc, valid-type]
        def __init__(self, args: Any, *rest: Any, **options: Any) -> None:
            started.append([str(a) for a in args] if not isinstance(args, str) else [args])
            super().__init__(args, *rest, **options)

    subprocess.Popen = Recording  # type: ignore[misc]
    try:
        yield started
    finally:
        subprocess.Popen = original  # type: ignore[misc]


def assert_no_secret_in(commands: list[list[str]], secrets: dict[str, str | None]) -> None:
    assert commands, "no command was recorded"
    for name, secret in secrets.items():
        if not secret:
            continue
        for command in commands:
            assert not any(secret in argument for argument in command), (
                f"{name} is on the command line of {command[0]}"
            )


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    require_postgres()
    name = f"govdata_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'create database "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def small_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three months of the demo province's exports at a small scale."""
    out = tmp_path_factory.mktemp("sources")
    simulate(out, scale=0.005, seed=7, start=SMALL_WINDOW[0], end=SMALL_WINDOW[1])
    return out


@pytest.fixture
def home(tmp_path: Path, small_sources: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A GOVDATA_HOME whose simulated sources are the small ones."""
    (tmp_path / "sources").symlink_to(small_sources, target_is_directory=True)
    for name in list(os.environ):
        if name.startswith("GOVDATA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GOVDATA_HOME", str(tmp_path))
    return tmp_path


# -- tiers: `make test-fast` runs what needs no server ----------------------------------------

#: Fixtures that start or reach a server (PostgreSQL, MariaDB, CKAN, Superset, Airflow,
#: Chromium). A test using one of them, directly or through another fixture, is a server test.
SERVER_FIXTURES = frozenset(
    {
        "pg_url",
        "pg_database",
        "pg_source",
        "mariadb_table",
        "portal",
        "served",
        "browser",
        "environment",
    }
)
#: Parameter values that select a served warehouse.
SERVER_PARAMETERS = frozenset({"postgres"})


def needs_a_server(item: pytest.Item) -> bool:
    if item.get_closest_marker("server"):
        return True
    if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    values = callspec.params.values() if callspec else ()
    return any(isinstance(value, str) and value in SERVER_PARAMETERS for value in values)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if needs_a_server(item):
            item.add_marker(pytest.mark.server)
