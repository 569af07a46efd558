"""Superset, the leaders' dashboards, run from its own virtualenv (.venv-superset).

Superset pins SQLAlchemy<2, so it is never imported here: every step runs the Superset venv's
programs in a subprocess, configured by services/superset/superset_config.py through
environment variables derived from the platform's settings.

    url = deploy(settings)  # install if needed, set up, import the assets, serve; idempotent
    stop(settings)

`deploy` is safe to re-run: when Superset already answers on the port it only brings the
assets up to date, and loses nothing changed in the UI. The bundle (superset_assets/, with the
province's names and the warehouse URI filled in) is imported only when it differs from the
last one imported; when it does, every asset of it changed in Superset since is exported to
``home/superset/backups/`` first, with a warning naming it. The admin user is created when
missing and its password never reset, unless asked (``govdata dashboards
--reset-admin-password``). The dashboards need no import to show new data: they query the
serving copy (or PostgreSQL) at every view, uncached.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import duckdb
import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from core.errors import ServiceError
from core.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)

VENV = REPO_ROOT / ".venv-superset"
SERVICE_DIR = REPO_ROOT / "services" / "superset"
ASSETS_DIR = REPO_ROOT / "superset_assets"
COMMAND_TIMEOUT = 900.0
#: The dashboards' topics: each one's slug is ``<topic>-<province slug>`` (superset_assets/).
DASHBOARD_TOPICS = (
    "kpi",
    "procedures",
    "documents",
    "reports",
    "merger",
    "data-quality",
    "national",
)


class SupersetError(ServiceError):
    """Superset could not be installed, set up, imported into, started or stopped."""


# --- installation and environment -----------------------------------------------------------


def install() -> None:
    """Create or refresh .venv-superset from requirements/superset.txt (fast when up to date)."""
    _run(["bash", str(SERVICE_DIR / "install.sh")], env=None, what="installing Superset")


def _bin(name: str) -> str:
    path = VENV / "bin" / name
    if not path.exists():
        raise SupersetError(f"{path} is missing: run services/superset/install.sh")
    return str(path)


def _superset_sqlalchemy_url(url: str) -> str:
    """The URL for Superset's SQLAlchemy 1.4, whose PostgreSQL driver is psycopg2."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def reader_url(settings: Settings) -> str:
    """The PostgreSQL warehouse as its read-only role (``warehouse_reader``) reaches it."""
    password = settings.warehouse_reader_password
    parsed = make_url(settings.pg_url).set(
        username=settings.warehouse_reader,
        password=password.get_secret_value() if password else None,
    )
    return parsed.render_as_string(hide_password=False)


def warehouse_uri(settings: Settings) -> str:
    """Where the dashboards and SQL Lab read: the read-only serving copy, opened per query, or
    PostgreSQL as its read-only role (never the writer's URL)."""
    if settings.target == "postgres":
        return _superset_sqlalchemy_url(reader_url(settings))
    # DuckDB: read-only, and no access to other files of the server from SQL (read_csv...).
    # Superset connects without a pool (NullPool): the file is opened per query, so the
    # pipeline can replace it at any time.
    url = URL.create(
        "duckdb",
        database=str(settings.serving_path),
        query={"access_mode": "read_only", "enable_external_access": "false"},
    )
    return url.render_as_string(hide_password=False)


def superset_env(settings: Settings) -> dict[str, str]:
    """Environment of every Superset process (read by services/superset/superset_config.py)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        SUPERSET_CONFIG_PATH=str(SERVICE_DIR / "superset_config.py"),
        GOVDATA_HOME=str(settings.home),
        GOVDATA_SUPERSET_METADATA_URL=_superset_sqlalchemy_url(settings.superset_metadata_url),
        PATH=f"{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    if settings.superset_secret_key:
        env["GOVDATA_SUPERSET_SECRET_KEY"] = settings.superset_secret_key
    return env


def run_dir(settings: Settings) -> Path:
    path = settings.home / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _run(
    args: list[str], env: dict[str, str] | None, what: str, log_file: Path | None = None
) -> str:
    started = time.monotonic()
    try:
        result = subprocess.run(
            args,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SupersetError(f"{what}: no answer after {COMMAND_TIMEOUT:.0f} s") from None
    output = result.stdout + result.stderr
    if log_file is not None:
        with log_file.open("a", encoding="utf-8") as out:
            out.write(f"\n$ {' '.join(args)}\n{output}")
    if result.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-25:])
        raise SupersetError(f"{what} failed (exit {result.returncode}):\n{tail}")
    log.info("%s: done in %.1f s", what, time.monotonic() - started)
    return output


def _superset(settings: Settings, *args: str, what: str) -> str:
    log_file = run_dir(settings) / "superset-setup.log"
    return _run([_bin("superset"), *args], superset_env(settings), what, log_file)


# --- metadata database ----------------------------------------------------------------------


def _maintenance_connection(url: str) -> tuple[psycopg.Connection, str]:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        shown = parsed.render_as_string(hide_password=True)
        raise SupersetError(f"not a PostgreSQL database URL: {shown}")
    params = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        **{k: v for k, v in parsed.query.items() if isinstance(v, str)},
    }
    try:
        conn = psycopg.connect(
            dbname="postgres", autocommit=True, **{k: v for k, v in params.items() if v}
        )
    except psycopg.Error as error:
        raise SupersetError(f"cannot reach PostgreSQL at {parsed.host}: {error}") from None
    return conn, parsed.database


def create_database(url: str) -> bool:
    """Create the PostgreSQL database of the URL (Superset's metadata) if missing; True if so."""
    conn, name = _maintenance_connection(url)
    with conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    log.info("created PostgreSQL database %s", name)
    return True


def drop_database(url: str) -> None:
    """Drop the PostgreSQL database of the URL, connections and all (tests)."""
    conn, name = _maintenance_connection(url)
    with conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# --- setup and assets -----------------------------------------------------------------------


@dataclass(frozen=True)
class AssetsImport:
    """What bringing the dashboards up to date did."""

    imported: bool  # False: the bundle was as last imported, Superset left as it is
    notes: list[str]
    warnings: list[str]  # a change made in Superset that was overwritten, put back or kept
    backup: Path | None  # where the overwritten assets were saved

    def summary(self) -> str:
        done = "imported the assets bundle" if self.imported else "the bundle is unchanged"
        saved = f"; overwritten assets saved in {self.backup}" if self.backup else ""
        return f"{done}; {len(self.warnings)} warnings{saved}"


def backups_dir(settings: Settings) -> Path:
    """Where assets changed in Superset are saved before an import overwrites them."""
    return settings.home / "superset" / "backups"


def import_assets(
    settings: Settings,
    assets_dir: Path = ASSETS_DIR,
    ensure_admin: bool = True,
    *,
    reimport: bool = False,
    reset_admin_password: bool = False,
) -> AssetsImport:
    """Bring Superset's dashboards up to date with the assets bundle and the access policy.

    The bundle (with the warehouse URI of the settings) is imported only when it changed since
    the last import, or with ``reimport``; assets changed in Superset since are saved first
    (services/superset/import_assets.py). ``ensure_admin`` creates the admin user when
    missing; ``reset_admin_password`` sets its password from the settings. Every warning is
    logged. Raises SupersetError with Superset's message on any problem in the bundle or the
    import.
    """
    if settings.target != "postgres" and not settings.serving_path.is_file():
        raise SupersetError(
            f"no serving copy of the warehouse at {settings.serving_path}: run the pipeline first"
        )
    if settings.target == "postgres":
        ensure_warehouse_reader(settings)
    bundle = render_bundle(settings, assets_dir)
    access = run_dir(settings) / "access.json"
    access.write_text(json.dumps(access_spec(settings), ensure_ascii=False), encoding="utf-8")
    report = run_dir(settings) / "superset-import.json"
    report.unlink(missing_ok=True)
    env = superset_env(settings)
    env["GOVDATA_WAREHOUSE_URI"] = warehouse_uri(settings)
    env["GOVDATA_SUPERSET_ADMIN_PASSWORD"] = settings.superset_admin_password
    if settings.deployment == "demo":
        env["GOVDATA_SUPERSET_DEMO_PASSWORD"] = settings.superset_demo_password
    args = [
        _bin("python"),
        str(SERVICE_DIR / "import_assets.py"),
        str(bundle),
        "--user",
        settings.superset_admin_user,
        "--access",
        str(access),
        "--backups",
        str(backups_dir(settings)),
        "--report",
        str(report),
    ]
    if ensure_admin:
        args.append("--ensure-admin")
    if reset_admin_password:
        args.append("--reset-admin-password")
    if reimport:
        args.append("--reimport")
    log_file = run_dir(settings) / "superset-setup.log"
    _run(args, env, f"bringing Superset up to date with {assets_dir}", log_file)
    done = json.loads(report.read_text(encoding="utf-8"))
    for note in done["notes"]:
        log.info("Superset: %s", note)
    for warning in done["warnings"]:
        log.warning("Superset: %s", warning)
    return AssetsImport(
        imported=done["imported"],
        notes=done["notes"],
        warnings=done["warnings"],
        backup=Path(done["backup"]) if done["backup"] else None,
    )


def current_communes(settings: Settings) -> list[dict[str, str]]:
    """The province's communes in force today (code, name, unit key), from the warehouse."""
    query = (
        "select unit_code, unit_name, unit_key from marts.dim_admin_unit"
        " where unit_level = 'commune' and is_current and current_province_code = '{}'"
        " order by unit_code"
    ).format(settings.province_code.replace("'", ""))
    if settings.target == "postgres":
        with psycopg.connect(settings.pg_url) as connection:
            rows = connection.execute(query).fetchall()  # type: ignore[call-overload]
    else:
        with duckdb.connect(str(settings.serving_path), read_only=True) as connection:
            rows = connection.execute(query).fetchall()
    return [{"code": code, "name": name, "unit_key": key} for code, name, key in rows]


def access_spec(settings: Settings) -> dict[str, object]:
    """Who sees what, for services/superset/import_assets.py: one row-level security role per
    commune, and the demo users when the deployment is a demo."""
    return {
        "communes": current_communes(settings),
        "demo_users": settings.deployment == "demo",
        "province_slug": settings.profile.slug,
    }


def ensure_warehouse_reader(settings: Settings) -> None:
    """PostgreSQL: the read-only role the dashboards and SQL Lab use, allowed to read the marts
    and nothing else, including the tables later builds create (default privileges)."""
    reader = sql.Identifier(settings.warehouse_reader)
    password = settings.warehouse_reader_password
    writer = make_url(settings.pg_url).username or "postgres"
    try:
        with psycopg.connect(settings.pg_url, autocommit=True) as connection:
            exists = connection.execute(
                "select 1 from pg_roles where rolname = %s", [settings.warehouse_reader]
            ).fetchone()
            if not exists:
                connection.execute(sql.SQL("create role {} login").format(reader))
            connection.execute(
                sql.SQL("alter role {} with login nosuperuser nocreatedb nocreaterole {}").format(
                    reader,
                    sql.SQL("password {}").format(sql.Literal(password.get_secret_value()))
                    if password
                    else sql.SQL(""),
                )
            )
            database = sql.Identifier(connection.info.dbname)
            connection.execute(
                sql.SQL("grant connect on database {} to {}").format(database, reader)
            )
            connection.execute(sql.SQL("revoke create on schema public from {}").format(reader))
            connection.execute("create schema if not exists marts")
            connection.execute(sql.SQL("grant usage on schema marts to {}").format(reader))
            connection.execute(
                sql.SQL("grant select on all tables in schema marts to {}").format(reader)
            )
            connection.execute(
                sql.SQL(
                    "alter default privileges for role {} in schema marts"
                    " grant select on tables to {}"
                ).format(sql.Identifier(writer), reader)
            )
    except psycopg.Error as error:
        raise SupersetError(
            f"cannot set up the read-only role {settings.warehouse_reader}: {error}"
        ) from None


def render_bundle(settings: Settings, assets_dir: Path = ASSETS_DIR) -> Path:
    """The assets bundle with the province's names filled in (``${province_*}``), under home.

    Dashboards, charts and datasets are written once for every province; their titles, slugs
    and notes name it through the profile's placeholders (core.profile).
    """
    rendered = run_dir(settings) / "superset_assets"
    shutil.rmtree(rendered, ignore_errors=True)
    for source in sorted(assets_dir.rglob("*")):
        target = rendered / source.relative_to(assets_dir)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8")
        target.write_text(settings.profile.render(text, str(source)), encoding="utf-8")
    return rendered


def setup(
    settings: Settings, reimport: bool = False, reset_admin_password: bool = False
) -> AssetsImport:
    """Metadata database, schema migrations, roles and permissions, admin user, assets."""
    create_database(settings.superset_metadata_url)
    _superset(settings, "db", "upgrade", what="superset db upgrade")
    _superset(settings, "init", what="superset init")
    return import_assets(settings, reimport=reimport, reset_admin_password=reset_admin_password)


# --- web server -----------------------------------------------------------------------------


def _connect_host(settings: Settings) -> str:
    host = settings.superset_host
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def base_url(settings: Settings) -> str:
    return f"http://{_connect_host(settings)}:{settings.superset_port}"


def dashboard_url(settings: Settings, slug: str | None = None) -> str:
    """Address of a dashboard, by default the Decision 766 scorecard (log in first)."""
    slug = slug or settings.profile.dashboard_slug("kpi")
    return f"{base_url(settings)}/superset/dashboard/{slug}/"


def pid_path(settings: Settings) -> Path:
    return run_dir(settings) / f"superset-{settings.superset_port}.pid"


def log_path(settings: Settings) -> Path:
    return run_dir(settings) / f"superset-{settings.superset_port}.log"


def is_healthy(settings: Settings, timeout: float = 3.0) -> bool:
    """True when Superset answers its health check on the configured port."""
    try:
        with urllib.request.urlopen(f"{base_url(settings)}/health", timeout=timeout) as answer:
            return answer.status == 200 and answer.read().strip() == b"OK"
    except (OSError, urllib.error.URLError):
        return False


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own child that exited
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def running_pid(settings: Settings) -> int | None:
    """Pid of the Superset server this platform started on the port, if it is still running."""
    path = pid_path(settings)
    try:
        pid = int(path.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return None
    if b"gunicorn" not in cmdline or not _alive(pid):
        path.unlink(missing_ok=True)
        return None
    return pid


def _port_taken(settings: Settings) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((settings.superset_host, settings.superset_port))
        except OSError:
            return True
    return False


def _log_tail(settings: Settings, lines: int = 30) -> str:
    try:
        return "\n".join(log_path(settings).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_healthy(settings: Settings, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_healthy(settings):
            return
        if not _alive(pid):
            raise SupersetError(
                f"Superset exited while starting; log {log_path(settings)}:\n{_log_tail(settings)}"
            )
        time.sleep(1.0)
    raise SupersetError(
        f"Superset did not answer {base_url(settings)}/health within {timeout:.0f} s; "
        f"log {log_path(settings)}:\n{_log_tail(settings)}"
    )


def start(settings: Settings, timeout: float = 240.0) -> int:
    """Start the web server (gunicorn) in the background and wait for /health; returns pid.

    Does nothing but return the pid when this platform's server already runs on the port.
    """
    pid = running_pid(settings)
    if pid is not None:
        _wait_healthy(settings, pid, timeout)
        return pid
    if _port_taken(settings):
        raise SupersetError(f"port {settings.superset_port} is already used by another program")
    args = [
        _bin("gunicorn"),
        "--bind",
        f"{settings.superset_host}:{settings.superset_port}",
        "--workers",
        str(settings.superset_workers),
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--timeout",
        "120",
        "--graceful-timeout",
        "10",
        "--limit-request-line",
        "0",
        "--limit-request-field_size",
        "0",
        "superset.app:create_app()",
    ]
    with log_path(settings).open("ab") as out:
        process = subprocess.Popen(
            args,
            env=superset_env(settings),
            cwd=run_dir(settings),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends master and workers
        )
    pid_path(settings).write_text(f"{process.pid}\n")
    log.info("started Superset (pid %d) on port %d", process.pid, settings.superset_port)
    try:
        _wait_healthy(settings, process.pid, timeout)
    except SupersetError:
        stop(settings)
        raise
    return process.pid


def stop(settings: Settings, timeout: float = 30.0) -> bool:
    """Stop the server this platform started on the port; False when none was running."""
    pid = running_pid(settings)
    if pid is None:
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if not _alive(pid):
            break
    pid_path(settings).unlink(missing_ok=True)
    log.info("stopped Superset (pid %d)", pid)
    return True


def deploy(settings: Settings, reimport: bool = False, reset_admin_password: bool = False) -> str:
    """Install if needed, set up, bring the assets up to date and serve; returns the
    dashboard's URL.

    When Superset already answers on the port, only the assets are brought up to date (see
    :func:`import_assets`, which ``reimport`` and ``reset_admin_password`` are passed to). A
    production deployment refuses to start with default passwords.
    """
    if settings.deployment == "production" and (defaults := settings.default_passwords()):
        raise SupersetError(
            "a production deployment refuses default passwords: set " + ", ".join(defaults)
        )
    install()
    if is_healthy(settings):
        import_assets(settings, reimport=reimport, reset_admin_password=reset_admin_password)
        if running_pid(settings) is None:
            log.warning("a Superset this platform did not start answers on the port")
    else:
        setup(settings, reimport=reimport, reset_admin_password=reset_admin_password)
        start(settings)
    return dashboard_url(settings)
