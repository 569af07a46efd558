"""Airflow 3, the platform's orchestrator: started, provisioned and driven from the settings.

    up(settings)         # migrate the metadata DB, provision, start the processes; idempotent
    client(settings)     # the REST API as the admin: unpause, trigger, wait for runs
    down(settings)

Processes (each in its own process group, pid files under ``home/airflow/run``): the API server
(REST API and the UI), the scheduler, the DAG processor and, under the CeleryExecutor, a Celery
worker. The metadata lives in PostgreSQL (``GOVDATA_AIRFLOW_METADATA_URL``), never SQLite; the
DAGs are the repository's ``dags/`` and read the same ``GOVDATA_*`` settings as the command line
(the processes inherit the environment and run from the repository, whose ``.env`` they read).

Login: Airflow's simple auth manager (Airflow 3's own; no FAB provider to install), with one
admin user, ``GOVDATA_AIRFLOW_ADMIN_USER``, whose password (``GOVDATA_AIRFLOW_ADMIN_PASSWORD``)
is written to the manager's password file under home (mode 600) at every start.

What the DAGs need is provisioned from code at every start (:func:`provision`): the one-slot
``warehouse_writer`` pool (DuckDB: one writer), connections naming the warehouse, the portal and
the dashboards, and variables naming the home, target and province. Each is created when
missing; one an operator changed in Airflow is kept, with a warning naming the difference from
the settings; one still as provisioned follows the settings. The exception: on DuckDB the pool
never has more than one slot (a second writer would fail on the file's lock), and putting it
back is logged as an error.

    python -m govdata.services.airflow up|run|down|status|provision
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from core.errors import ServiceError
from core.settings import REPO_ROOT, Settings, load_settings
from govdata.services import superset

log = logging.getLogger(__name__)

DAGS_DIR = REPO_ROOT / "dags"
WAREHOUSE_WRITER_POOL = "warehouse_writer"
PROCESSES = ("api-server", "scheduler", "dag-processor")
COMMAND_TIMEOUT = 600.0


class AirflowError(ServiceError):
    """Airflow could not be set up, started, reached or stopped, or a run did not succeed."""


# --- configuration --------------------------------------------------------------------------


def airflow_home(settings: Settings) -> Path:
    path = settings.home / "airflow"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_dir(settings: Settings) -> Path:
    path = airflow_home(settings) / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _secret(settings: Settings, name: str, make: Any = lambda: secrets.token_urlsafe(32)) -> str:
    """A secret every Airflow process must share, created once under home."""
    path = airflow_home(settings) / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def sqlalchemy_url(url: str, driver: str = "psycopg2") -> str:
    """Airflow's metadata URL: psycopg2 for its sessions, psycopg (3) for its async ones."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise AirflowError(f"the Airflow metadata database must be PostgreSQL, not {url!r}")
    return parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def base_url(settings: Settings) -> str:
    host = settings.airflow_host
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    return f"http://{host}:{settings.airflow_port}"


def passwords_file(settings: Settings) -> Path:
    return airflow_home(settings) / "secrets" / "simple_auth_manager_passwords.json"


def airflow_env(settings: Settings) -> dict[str, str]:
    """Environment of every Airflow process: its configuration, and the platform's settings."""
    home = airflow_home(settings)
    metadata = sqlalchemy_url(settings.airflow_metadata_url)
    backend = settings.airflow_celery_result_backend or "db+" + metadata
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_DIR),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR=settings.airflow_executor,
        AIRFLOW__CORE__PARALLELISM=str(settings.airflow_parallelism),
        AIRFLOW__CORE__FERNET_KEY=_secret(settings, "fernet_key", _fernet_key),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"{base_url(settings)}/execution/",
        AIRFLOW__CORE__AUTH_MANAGER=(
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"{settings.airflow_admin_user}:admin",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords_file(settings)),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=metadata,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC=sqlalchemy_url(
            settings.airflow_metadata_url, "psycopg_async"
        ),
        AIRFLOW__API__HOST=settings.airflow_host,
        AIRFLOW__API__PORT=str(settings.airflow_port),
        AIRFLOW__API__BASE_URL=base_url(settings),
        AIRFLOW__API__WORKERS="1",
        AIRFLOW__API__SECRET_KEY=_secret(settings, "api_secret_key"),
        AIRFLOW__API_AUTH__JWT_SECRET=_secret(settings, "jwt_secret"),
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(home / "logs"),
        # New DAG files and asset events are picked up within seconds, not minutes.
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="30",
        AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL="30",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        AIRFLOW__CELERY__BROKER_URL=settings.airflow_celery_broker_url,
        AIRFLOW__OPERATORS__DEFAULT_QUEUE=settings.airflow_celery_queue,
        AIRFLOW__CELERY__RESULT_BACKEND=backend,
        AIRFLOW__CELERY__WORKER_CONCURRENCY=str(settings.airflow_parallelism),
        AIRFLOW__COSMOS__ENABLE_TELEMETRY="False",
        AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP=r"(airflow|govdata)\..*",
        SCARF_ANALYTICS="false",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        # The DAGs read the same settings as the command line: same home, same .env.
        GOVDATA_HOME=str(settings.home),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def _airflow_bin() -> str:
    path = Path(sys.executable).parent / "airflow"
    if not path.exists():
        raise AirflowError(f"{path} is missing: run `make install`")
    return str(path)


def _run(settings: Settings, args: list[str], what: str) -> str:
    started = time.monotonic()
    try:
        result = subprocess.run(
            args,
            env=airflow_env(settings),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AirflowError(f"{what}: no answer after {COMMAND_TIMEOUT:.0f} s") from None
    output = result.stdout + result.stderr
    with (run_dir(settings) / "airflow-setup.log").open("a", encoding="utf-8") as out:
        out.write(f"\n$ {' '.join(args)}\n{output}")
    if result.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-25:])
        raise AirflowError(f"{what} failed (exit {result.returncode}):\n{tail}")
    log.info("%s: done in %.1f s", what, time.monotonic() - started)
    return output


# --- metadata database and provisioning -----------------------------------------------------


def migrate(settings: Settings) -> None:
    """Create the metadata database if missing and bring its schema up to date."""
    superset.create_database(settings.airflow_metadata_url)
    _run(settings, [_airflow_bin(), "db", "migrate"], "airflow db migrate")


def write_admin_password(settings: Settings) -> None:
    """The simple auth manager's password file: the admin's password from the settings."""
    path = passwords_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({settings.airflow_admin_user: settings.airflow_admin_password}))
    path.chmod(0o600)


def connections(settings: Settings) -> dict[str, dict[str, Any]]:
    """Where the platform reads and writes, as Airflow connections an operator can inspect."""
    if settings.target == "postgres":
        parsed = make_url(settings.pg_url)
        warehouse = {
            "conn_type": "postgres",
            "host": parsed.host or "127.0.0.1",
            "port": parsed.port or 5432,
            "login": parsed.username or "",
            "password": parsed.password or "",
            "schema": parsed.database or "",
            "description": "The warehouse (PostgreSQL), written by the DAGs.",
        }
    else:
        warehouse = {
            "conn_type": "duckdb",
            "host": str(settings.warehouse_path),
            "description": "The warehouse (embedded DuckDB); readers use "
            f"{settings.serving_path}, swapped after each green build.",
        }
    return {
        "govdata_warehouse": warehouse,
        "govdata_ckan": {
            "conn_type": "http",
            "host": settings.ckan_url,
            "description": "The open-data portal (CKAN) the publish task writes to.",
        },
        "govdata_superset": {
            "conn_type": "http",
            "host": superset.base_url(settings),
            "description": "The dashboards (Superset) refreshed after each green build.",
        },
    }


def variables(settings: Settings) -> dict[str, str]:
    return {
        "govdata_home": str(settings.home),
        "govdata_target": settings.target,
        "govdata_province": f"{settings.province_code} {settings.profile.short_name}",
        "govdata_alert_channels": ", ".join(_alert_channels(settings)) or "(log only)",
    }


def _alert_channels(settings: Settings) -> list[str]:
    from govdata import alerts

    return alerts.channels(settings)


POOL_DESCRIPTION = "The warehouse's one writer (DuckDB): ingestion and build take turns."
# Worded as before this module kept operators' changes: an upgraded deployment's pool and
# variables are found as provisioned, not as changed by an operator.
VARIABLE_DESCRIPTION = "Set by govdata.services.airflow at start."


def wanted(settings: Settings) -> dict[str, dict[str, Any]]:
    """Everything :func:`provision` keeps in the metadata database, by ``kind:name``."""
    items: dict[str, dict[str, Any]] = {
        f"pool:{WAREHOUSE_WRITER_POOL}": {
            "slots": 1,
            "description": POOL_DESCRIPTION,
            "include_deferred": False,
        }
    }
    for conn_id, fields in connections(settings).items():
        items[f"connection:{conn_id}"] = fields
    for key, value in variables(settings).items():
        items[f"variable:{key}"] = {"val": value, "description": VARIABLE_DESCRIPTION}
    return items


@dataclass
class Provisioning:
    """What :func:`provision` did: lines to log at info, warning and error level."""

    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def log(self) -> None:
        for line in self.notes:
            log.info("Airflow: %s", line)
        for line in self.warnings:
            log.warning("Airflow: %s", line)
        for line in self.errors:
            log.error("Airflow: %s", line)


def _fingerprint(fields: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def _differences(have: dict[str, Any], want: dict[str, Any]) -> str:
    """The fields that differ, with both values (a password's never shown)."""
    parts = []
    for name, value in want.items():
        if have.get(name) == value:
            continue
        if name == "password":
            parts.append("password (differs)")
        else:
            parts.append(f"{name} {have.get(name)!r} (settings: {value!r})")
    return ", ".join(parts)


def provisioned_path(settings: Settings) -> Path:
    """What :func:`provision` last wrote, as fingerprints: its own, or an operator's?"""
    return airflow_home(settings) / "provisioned.json"


def _metadata_name(settings: Settings) -> str:
    return make_url(settings.airflow_metadata_url).render_as_string(hide_password=True)


def provision(settings: Settings) -> Provisioning:
    """Pool, connections and variables in the metadata database, created when missing and
    never reverting an operator's change (run inside the Airflow environment by :func:`up`,
    ``python -m govdata.services.airflow provision``; in process by the tests).

    An item differing from the settings is updated only when it is still what the last
    provisioning wrote (the settings changed); else the operator changed it in Airflow, and it
    is kept with a warning. On DuckDB the writer pool is put back to one slot if raised.
    """
    from airflow.models.connection import Connection
    from airflow.models.pool import Pool
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    done = Provisioning()
    path = provisioned_path(settings)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {}
    last: dict[str, str] = (
        record.get("items", {}) if record.get("metadata") == _metadata_name(settings) else {}
    )
    written: dict[str, str] = {}
    with create_session() as session:
        for key, want in wanted(settings).items():
            kind, name = key.split(":", 1)
            if kind == "pool":
                row = session.query(Pool).filter(Pool.pool == name).one_or_none()
            elif kind == "connection":
                row = session.query(Connection).filter(Connection.conn_id == name).one_or_none()
            else:
                row = session.query(Variable).filter(Variable.key == name).one_or_none()
            if row is None:
                if kind == "pool":
                    row = Pool(pool=name, **want)
                elif kind == "connection":
                    row = Connection(conn_id=name, **want)
                else:
                    row = Variable(key=name, **want)
                session.add(row)
                done.notes.append(f"created {kind} {name}")
                written[key] = _fingerprint(want)
                continue
            have = {column: getattr(row, column) for column in want}
            if (
                kind == "pool"
                and settings.target == "duckdb"
                and (have["slots"] > 1 or have["slots"] < 0)
            ):
                done.errors.append(
                    f"pool {name} had {have['slots']} slots (changed in Airflow): put back to 1,"
                    " as the DuckDB warehouse takes one writer at a time (a second one fails on"
                    " the file's lock); writers side by side need GOVDATA_TARGET=postgres"
                )
                row.slots = have["slots"] = 1
            if have == want:
                written[key] = _fingerprint(want)
            elif last.get(key) == _fingerprint(have):
                done.notes.append(
                    f"updated {kind} {name} from the settings: {_differences(have, want)}"
                )
                for column, value in want.items():
                    setattr(row, column, value)
                written[key] = _fingerprint(want)
            else:
                done.warnings.append(
                    f"kept {kind} {name} as changed in Airflow; it differs from the settings in"
                    f" {_differences(have, want)} (delete it to have it provisioned again)"
                )
                if key in last:
                    written[key] = last[key]
    path.write_text(json.dumps({"metadata": _metadata_name(settings), "items": written}))
    return done


def run_provision(settings: Settings) -> Provisioning:
    """:func:`provision` in the Airflow environment; what it did is logged here too."""
    report = run_dir(settings) / "provision.json"
    report.unlink(missing_ok=True)
    _run(settings, [sys.executable, "-m", "govdata.services.airflow", "provision"], "provision")
    done = Provisioning(**json.loads(report.read_text()))
    done.log()
    return done


# --- processes ------------------------------------------------------------------------------


def _pid_path(settings: Settings, name: str) -> Path:
    return run_dir(settings) / f"{name}.pid"


def log_path(settings: Settings, name: str) -> Path:
    return run_dir(settings) / f"{name}.log"


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def running_pid(settings: Settings, name: str) -> int | None:
    path = _pid_path(settings, name)
    try:
        pid = int(path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return None
    # A Celery worker renames its processes ("[celeryd: ...]").
    if not (b"airflow" in cmdline or b"celery" in cmdline) or not _alive(pid):
        path.unlink(missing_ok=True)
        return None
    return pid


def _processes(settings: Settings) -> dict[str, list[str]]:
    airflow = _airflow_bin()
    commands = {
        "api-server": [airflow, "api-server"],
        "scheduler": [airflow, "scheduler"],
        "dag-processor": [airflow, "dag-processor"],
    }
    if settings.airflow_executor == "CeleryExecutor":
        commands["celery-worker"] = [
            airflow,
            "celery",
            "worker",
            "--queues",
            settings.airflow_celery_queue,
        ]
    return commands


def _spawn(settings: Settings, name: str, args: list[str]) -> int:
    with log_path(settings, name).open("ab") as out:
        process = subprocess.Popen(
            args,
            env=airflow_env(settings),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends it and its children
        )
    _pid_path(settings, name).write_text(f"{process.pid}\n")
    log.info("started Airflow %s (pid %d)", name, process.pid)
    return process.pid


def _log_tail(settings: Settings, name: str, lines: int = 30) -> str:
    try:
        text = log_path(settings, name).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def health(settings: Settings, timeout: float = 3.0) -> dict[str, str]:
    """Status of each component (metadatabase, scheduler, dag_processor...), {} if no answer."""
    try:
        answer = httpx.get(f"{base_url(settings)}/api/v2/monitor/health", timeout=timeout)
        answer.raise_for_status()
    except httpx.HTTPError:
        return {}
    return {k: v.get("status", "") for k, v in answer.json().items() if isinstance(v, dict)}


def is_healthy(settings: Settings) -> bool:
    status = health(settings)
    needed = ("metadatabase", "scheduler", "dag_processor")
    return all(status.get(component) == "healthy" for component in needed)


def up(settings: Settings, timeout: float = 240.0) -> str:
    """Migrate, provision and start every process not running yet; returns the UI's URL."""
    settings.home.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    migrate(settings)
    write_admin_password(settings)
    run_provision(settings)
    for name, args in _processes(settings).items():
        if running_pid(settings, name) is None:
            _spawn(settings, name, args)
    deadline = time.monotonic() + timeout
    while not is_healthy(settings):
        for name in _processes(settings):
            if running_pid(settings, name) is None:
                tail = _log_tail(settings, name)
                down(settings)
                raise AirflowError(f"Airflow {name} exited while starting:\n{tail}")
        if time.monotonic() > deadline:
            status = health(settings)
            down(settings)
            raise AirflowError(
                f"Airflow not healthy at {base_url(settings)} within {timeout:.0f} s: {status}"
            )
        time.sleep(1.0)
    log.info("Airflow up in %.1f s at %s", time.monotonic() - started, base_url(settings))
    return base_url(settings)


def down(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Stop the processes this platform started; returns the names of those stopped."""
    stopped = []
    for name in (*PROCESSES, "celery-worker"):
        pid = running_pid(settings, name)
        if pid is None:
            continue
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
            deadline = time.monotonic() + wait
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if not _alive(pid):
                break
        _pid_path(settings, name).unlink(missing_ok=True)
        stopped.append(name)
    return stopped


# --- the REST API ---------------------------------------------------------------------------


class AirflowClient:
    """Airflow's REST API (v2) as the admin: what the demo, the tests and an operator's
    scripts drive runs with."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http = httpx.Client(base_url=base_url(settings), timeout=60)
        token = self.http.post(
            "/auth/token",
            json={
                "username": settings.airflow_admin_user,
                "password": settings.airflow_admin_password,
            },
        )
        if token.status_code >= 400:
            raise AirflowError(f"cannot log into Airflow: {token.status_code} {token.text}")
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AirflowClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.http.request(method, f"/api/v2{path}", **kwargs)
        if answer.status_code >= 400:
            raise AirflowError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

    def dag_ids(self) -> list[str]:
        return [d["dag_id"] for d in self._call("GET", "/dags", params={"limit": 100})["dags"]]

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/importErrors")["import_errors"])

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 180.0) -> None:
        """Wait until the DAG processor has parsed every one of ``dag_ids``."""
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        while not wanted <= set(self.dag_ids()):
            if errors := self.import_errors():
                raise AirflowError(f"DAG import errors: {errors}")
            if time.monotonic() > deadline:
                raise AirflowError(f"DAGs not parsed in {timeout:.0f} s: {wanted}")
            time.sleep(1.0)

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        run = self._call(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}}
        )
        return str(run["dag_run_id"])

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Runs of the DAG, newest first."""
        answer = self._call(
            "GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "-run_after", "limit": 100}
        )
        return list(answer["dag_runs"])

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}"))

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        answer = self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in answer["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self._call("GET", path, params={"deserialize": True})["value"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 600.0) -> dict[str, Any]:
        """Wait for a run to end; returns it (its ``state`` is success or failed)."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in ("success", "failed"):
                return run
            if time.monotonic() > deadline:
                raise AirflowError(f"{dag_id} {run_id} still {run['state']} after {timeout:.0f} s")
            time.sleep(2.0)

    def last_asset_event(self) -> str | None:
        """When the newest asset update happened (ISO timestamp), if any."""
        answer = self._call("GET", "/assets/events", params={"order_by": "-timestamp", "limit": 1})
        events = answer["asset_events"]
        return str(events[0]["timestamp"]) if events else None

    def backfill(self, dag_id: str, first: date, last: date) -> dict[str, Any]:
        """Create a backfill of the daily DAG's runs of the days ``first`` to ``last`` (local
        days: the DAGs run on Vietnam's clock, UTC+7 all year), run in order by the scheduler."""
        return dict(
            self._call(
                "POST",
                "/backfills",
                json={
                    "dag_id": dag_id,
                    "from_date": f"{first}T00:00:00+07:00",
                    "to_date": f"{last}T00:00:00+07:00",
                    "max_active_runs": 1,
                    "reprocess_behavior": "completed",
                },
            )
        )


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


INGESTION_DAGS = ("govdata_ingest_procedures", "govdata_ingest_documents", "govdata_ingest_reports")
BUILD_DAG = "govdata_build"
DAG_IDS = (*INGESTION_DAGS, BUILD_DAG)


def run_once(settings: Settings, timeout: float = 3600.0) -> dict[str, dict[str, Any]]:
    """Unpause the DAGs, trigger every ingestion DAG, wait for them and for the build their
    updates schedule (or, when they bring nothing new and the last build failed, a build run
    now); returns the last run of each DAG. Raises AirflowError unless all succeeded.
    """
    deadline = time.monotonic() + timeout
    with AirflowClient(settings) as client:
        client.wait_for_dags(DAG_IDS)
        for dag_id in DAG_IDS:
            client.unpause(dag_id)
        triggered = {dag_id: client.trigger(dag_id) for dag_id in INGESTION_DAGS}
        for dag_id, run_id in triggered.items():
            run = client.wait(dag_id, run_id, max(1.0, deadline - time.monotonic()))
            if run["state"] != "success":
                raise AirflowError(f"{dag_id} run {run_id} {run['state']}: see its log in the UI")
        last_update = client.last_asset_event()
        while True:  # the build of the last update, once no build is queued or running
            builds = client.runs(BUILD_DAG)
            settled = not any(b["state"] in ("queued", "running") for b in builds)
            caught_up = last_update is None or any(
                _instant(b["run_after"]) >= _instant(last_update) for b in builds
            )
            if settled and caught_up:
                break
            if time.monotonic() > deadline:
                raise AirflowError(f"{BUILD_DAG} did not finish within {timeout:.0f} s")
            time.sleep(2.0)
        builds = client.runs(BUILD_DAG)
        if builds and builds[0]["state"] == "failed":
            # Nothing new to schedule a build, but the last one failed (a fix since, say):
            # build again rather than report the old failure.
            retry = client.trigger(BUILD_DAG)
            client.wait(BUILD_DAG, retry, max(1.0, deadline - time.monotonic()))
        last = {dag_id: client.runs(dag_id)[0] for dag_id in DAG_IDS if client.runs(dag_id)}
    failed = {d: r["dag_run_id"] for d, r in last.items() if r["state"] != "success"}
    if failed:
        details = "\n".join(failure_details(settings, d, r) for d, r in failed.items())
        raise AirflowError(f"runs that did not succeed:\n{details}")
    return last


def failure_details(settings: Settings, dag_id: str, run_id: str) -> str:
    """The failed tasks of a run with the errors their logs end with (for the command line)."""
    lines = [f"{dag_id} {run_id}:"]
    with AirflowClient(settings) as client:
        tasks = client.task_instances(dag_id, run_id)
    for task_id, ti in tasks.items():
        if ti["state"] != "failed":
            continue
        log_file = (
            airflow_home(settings) / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
            / f"task_id={task_id}" / f"attempt={ti['try_number']}.log"
        )  # fmt: skip
        errors = []
        with contextlib.suppress(OSError):
            for line in log_file.read_text(errors="replace").splitlines():
                with contextlib.suppress(ValueError):
                    event = json.loads(line)
                    if event.get("level") == "error":
                        detail = event.get("error_detail") or [{}]
                        errors.append(str(detail[0].get("exc_value") or event.get("event"))[:500])
        lines.append(f"  {task_id} failed: {' | '.join(errors[-3:]) or 'see ' + str(log_file)}")
    return "\n".join(lines)


def clean(settings: Settings) -> str:
    """Drop the metadata database (`make clean`): its connections and variables are encrypted
    with the Fernet key under the home that `make clean` deletes, and would not decrypt with
    the next one. Returns the database's name."""
    superset.drop_database(settings.airflow_metadata_url)
    return make_url(settings.airflow_metadata_url).database or ""


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    command = argv[0] if argv else "status"
    settings = load_settings()
    if command == "provision":
        done = provision(settings)
        done.log()
        (run_dir(settings) / "provision.json").write_text(json.dumps(asdict(done)))
        return 0
    if command == "up":
        url = up(settings)
        print(f"Airflow: {url}  login {settings.airflow_admin_user}")
    elif command == "run":
        for dag_id, run in run_once(settings).items():
            print(f"{dag_id:<28} {run['state']:<8} {run['dag_run_id']}")
    elif command == "down":
        print("stopped:", ", ".join(down(settings)) or "nothing was running")
    elif command == "clean":
        print("stopped:", ", ".join(down(settings)) or "nothing was running")
        print(f"Airflow cleaned: {clean(settings)} dropped")
    elif command == "status":
        print(json.dumps(health(settings), indent=2) or "no answer")
    else:
        print(
            f"unknown command {command!r}: up, run, down, clean, status or provision",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
