"""The local CKAN open-data portal: install, configure, start, stop. Safe to re-run.

The portal runs CKAN 2.12 from its own virtualenv (``services/ckan/install.sh``) against
PostgreSQL (CKAN's database plus a DataStore database with a read-write and a read-only
role) and Redis, with ``ckanext-localsearch`` standing in for Solr. Everything it writes
lives under ``$GOVDATA_HOME``::

    ckan/ckan.ini           generated configuration (from services/ckan/ckan.ini.in)
    ckan/secrets.json       the session and API-token signing secrets (kept across runs)
    ckan/storage/           uploaded resources; storage/govdata-portal.json pairs them with
                            the database (the same pairing id is kept in the database)
    ckan/api_token          the publisher's (sysadmin) API token, read by the publisher
    run/ckan.pid, ckan.log  the background server

Typical use (from the CLI, or ``python -m govdata.services.ckan up|down|status``)::

    portal = CkanPortal(settings)
    portal.up()        # install + databases + config + migrations + admin/token + start + org
    portal.down()      # stop the server
    portal.clean()     # stop, drop the databases and delete the files: together

The database and the file storage belong together. Unless set, the databases are named after
the home (``Settings.ckan_database_tag``), so another checkout gets its own portal; ``up``
pairs them (a pairing id in both) and refuses a database paired with another home's files that
still exist; when this home's files were lost (``rm -rf data``) it re-pairs them and the next
publish uploads the missing files again (the publisher checks what the portal serves).

A running server is restarted by ``up`` when ``ckan.ini`` or the CKAN install changed.

What a sysadmin changes in the portal's UI is kept: ``up`` writes the site's title and
description into ``ckan.ini`` only as defaults (the values set in the UI's Config page are kept
in CKAN's database and win), and creates the organization only when it is missing. The one
thing put back is the publisher's account (active and sysadmin, with an API token), which
publishing needs; ``up`` logs a warning when it does.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import string
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from core.errors import ServiceError
from core.settings import REPO_ROOT, Settings

log = logging.getLogger(__name__)

SERVICE_DIR = REPO_ROOT / "services" / "ckan"
INI_TEMPLATE = SERVICE_DIR / "ckan.ini.in"
LICENSES_FILE = SERVICE_DIR / "licenses.json"
INSTALL_SCRIPT = SERVICE_DIR / "install.sh"
TOKEN_NAME = "govdata-publisher"


class CkanError(ServiceError):
    """The local portal could not be set up, started or reached."""


@dataclass(frozen=True)
class PgTarget:
    """One database of the portal, parsed from its URL."""

    url: str

    @property
    def user(self) -> str:
        user = urlsplit(self.url).username
        if not user:
            raise CkanError(f"database URL needs a user: {self.url}")
        return user

    @property
    def password(self) -> str | None:
        return urlsplit(self.url).password

    @property
    def dbname(self) -> str:
        name = urlsplit(self.url).path.lstrip("/")
        if not name:
            raise CkanError(f"database URL needs a database name: {self.url}")
        return name


class CkanPortal:
    """The local portal described by the ``GOVDATA_CKAN_*`` settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.home / "ckan"
        self.run_dir = settings.home / "run"
        self.ini_path = self.home / "ckan.ini"
        self.secrets_path = self.home / "secrets.json"
        self.storage_path = self.home / "storage"
        self.token_path = settings.ckan_api_token_path
        self.pid_path = self.run_dir / "ckan.pid"
        self.log_path = self.run_dir / "ckan.log"
        self.venv = settings.ckan_venv
        self.db = PgTarget(settings.ckan_db_url)
        self.datastore_write = PgTarget(settings.ckan_datastore_write_url)
        self.datastore_read = PgTarget(settings.ckan_datastore_read_url)

    # -- derived --------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.settings.ckan_url.rstrip("/")

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def ckan_bin(self) -> Path:
        return self.venv / "bin" / "ckan"

    # -- one-shot orchestration -------------------------------------------------------------

    def up(self, timeout: float = 120.0) -> str:
        """Install, configure, migrate, start and seed the portal; return the API token."""
        started = time.monotonic()
        self.install()
        check_redis(self.settings.ckan_redis_url)
        self.ensure_databases()
        self.write_config()
        self.migrate()
        self.pair_storage()
        token = self.ensure_api_token()
        self.start(timeout=timeout)
        self.ensure_organization(token)
        log.info("CKAN portal up at %s in %.1fs", self.url, time.monotonic() - started)
        return token

    def down(self) -> None:
        self.stop()

    def clean(self) -> None:
        """Stop the portal, drop its databases and delete its files and token: together."""
        self.stop()
        self.drop_databases()
        shutil.rmtree(self.storage_path, ignore_errors=True)
        self.token_path.unlink(missing_ok=True)
        self.ini_path.unlink(missing_ok=True)

    # -- pairing of the database with the file storage -----------------------------------------

    @property
    def pairing_path(self) -> Path:
        return self.storage_path / "govdata-portal.json"

    def pair_storage(self) -> str:
        """Record (or check) that the database and this home's file storage belong together;
        return the pairing id. Raises when the database serves another home's existing files."""
        self.storage_path.mkdir(parents=True, exist_ok=True)
        try:
            local = json.loads(self.pairing_path.read_text())
        except (FileNotFoundError, ValueError):
            local = {}
        with psycopg.connect(self.db.url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS govdata_portal_pairing "
                "(pairing_id text NOT NULL, storage_path text NOT NULL, paired_at timestamptz)"
            )
            row = conn.execute(
                "SELECT pairing_id, storage_path FROM govdata_portal_pairing"
            ).fetchone()
            if row and row[0] == local.get("pairing_id"):
                return str(row[0])
            if row and row[1] != str(self.storage_path):
                other = Path(row[1]) / self.pairing_path.name
                try:
                    held = json.loads(other.read_text()).get("pairing_id")
                except (OSError, ValueError):
                    held = None
                if held == row[0]:
                    raise CkanError(
                        f"database {self.db.dbname} is the portal of the files in {row[1]}, "
                        f"not of {self.storage_path}: set GOVDATA_CKAN_DB_URL (and the "
                        "DataStore URLs) to databases of this home, or leave them unset"
                    )
            if row:
                log.warning(
                    "the portal's files in %s are not those its database %s was serving: "
                    "re-pairing; the next publish uploads every missing file again",
                    self.storage_path,
                    self.db.dbname,
                )
            pairing_id = secrets.token_hex(16)
            conn.execute("DELETE FROM govdata_portal_pairing")
            conn.execute(
                "INSERT INTO govdata_portal_pairing VALUES (%s, %s, now())",
                (pairing_id, str(self.storage_path)),
            )
        self.pairing_path.write_text(
            json.dumps(
                {"pairing_id": pairing_id, "database": self.db.dbname, "url": self.url}, indent=2
            )
            + "\n"
        )
        return pairing_id

    # -- install ------------------------------------------------------------------------------

    def install(self, force: bool = False) -> None:
        """Create or refresh the CKAN virtualenv from the lock (no-op when up to date)."""
        command = ["bash", str(INSTALL_SCRIPT), *(["--force"] if force else [])]
        env = {**os.environ, "CKAN_VENV": str(self.venv), "UV_NATIVE_TLS": "1"}
        result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise CkanError(f"CKAN install failed:\n{result.stdout}\n{result.stderr}")
        log.info("%s", result.stdout.strip())

    # -- databases ----------------------------------------------------------------------------

    def _admin(self, dbname: str | None = None) -> psycopg.Connection:
        url = self.settings.ckan_pg_admin_url
        kwargs = {"dbname": dbname} if dbname else {}
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=10, **kwargs)
        except psycopg.OperationalError as error:
            raise CkanError(f"cannot reach PostgreSQL as admin ({url}): {error}") from error

    def ensure_databases(self) -> None:
        """Create the portal's roles and databases when missing."""
        if self.datastore_read.user == self.datastore_write.user:
            raise CkanError("the DataStore read-only URL must use a different role")
        with self._admin() as conn:
            for target in (self.db, self.datastore_write, self.datastore_read):
                _ensure_role(conn, target.user, target.password)
            _ensure_database(conn, self.db.dbname, self.db.user)
            _ensure_database(conn, self.datastore_write.dbname, self.datastore_write.user)

    def drop_databases(self, drop_roles: bool = False) -> None:
        """Drop the portal's databases (and roles): for tests and a full reset."""
        with self._admin() as conn:
            for dbname in {self.db.dbname, self.datastore_write.dbname}:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )
            if drop_roles:
                users = {self.datastore_read.user, self.datastore_write.user, self.db.user}
                for user in users:
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))

    # -- configuration ------------------------------------------------------------------------

    def _secrets(self) -> dict[str, str]:
        if self.secrets_path.exists():
            return json.loads(self.secrets_path.read_text())
        values = {"secret_key": secrets.token_urlsafe(32), "jwt_secret": secrets.token_urlsafe(32)}
        self.home.mkdir(parents=True, exist_ok=True)
        self.secrets_path.touch(mode=0o600)
        self.secrets_path.write_text(json.dumps(values))
        return values

    def write_config(self) -> Path:
        """Render ``ckan.ini`` from the template and the settings."""
        self.storage_path.mkdir(parents=True, exist_ok=True)
        values = {
            **self._secrets(),
            "site_id": "govdata",
            "site_url": self.url,
            "site_title": self.settings.ckan_site_title,
            "site_description": "Dữ liệu mở tổng hợp về thủ tục hành chính và chính quyền số",
            "sqlalchemy_url": self.db.url,
            "datastore_write_url": self.datastore_write.url,
            "datastore_read_url": self.datastore_read.url,
            "redis_url": self.settings.ckan_redis_url,
            "storage_path": str(self.storage_path),
            "licenses_file": str(LICENSES_FILE),
        }
        text = string.Template(INI_TEMPLATE.read_text(encoding="utf-8")).substitute(values)
        if not self.ini_path.exists() or self.ini_path.read_text(encoding="utf-8") != text:
            self.ini_path.write_text(text, encoding="utf-8")
            self.ini_path.chmod(0o600)
        return self.ini_path

    # -- CKAN CLI -----------------------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 300.0, stdin: str | None = None) -> str:
        """Run ``ckan -c ckan.ini ARGS`` in the CKAN venv and return its standard output.

        It runs in a session of its own, without a terminal, so that a prompt (a password's)
        reads ``stdin`` rather than the terminal of whoever runs the platform."""
        if not self.ckan_bin.exists():
            raise CkanError(f"CKAN is not installed in {self.venv}: run services/ckan/install.sh")
        command = [str(self.ckan_bin), "-c", str(self.ini_path), *args]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CKAN_", "VIRTUAL_ENV"))}
        result = subprocess.run(
            command,
            env=env,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            start_new_session=True,
        )
        if result.returncode != 0:
            raise CkanError(
                f"`ckan {' '.join(args[:3])}` failed ({result.returncode}):\n"
                f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
            )
        return result.stdout

    def migrate(self) -> None:
        """Create or upgrade CKAN's tables (core and plugins) and the DataStore permissions."""
        self.cli("db", "upgrade")
        script = self.cli("datastore", "set-permissions")
        # The script is meant for psql: drop its meta-commands (\connect); we connect here.
        statements = "\n".join(
            line for line in script.splitlines() if not line.lstrip().startswith("\\")
        )
        with self._admin(self.datastore_write.dbname) as conn:
            conn.execute(statements.encode())  # several statements, no parameters

    # -- admin user and API token -------------------------------------------------------------

    def ensure_api_token(self) -> str:
        """Create the sysadmin and its publisher API token when missing; return the token."""
        user = self.settings.ckan_admin_user
        with psycopg.connect(self.db.url, autocommit=True) as conn:
            row = conn.execute(
                'SELECT id, sysadmin, state FROM "user" WHERE name = %s', (user,)
            ).fetchone()
            if row is None:
                # The password goes to CKAN's prompt on standard input, never on the command
                # line (`ps` shows every process's arguments).
                password = self.settings.ckan_admin_password
                self.cli(
                    "user",
                    "add",
                    user,
                    f"email={user}@localhost.invalid",
                    f"fullname={self.settings.ckan_organization_title}",
                    stdin=f"{password}\n{password}\n",
                )
                row = conn.execute(
                    'SELECT id, sysadmin, state FROM "user" WHERE name = %s', (user,)
                ).fetchone()
                assert row is not None
            user_id, sysadmin, state = row
            if state != "active" or not sysadmin:
                # The platform's own account: publishing needs it active and sysadmin. Put
                # back, and said: to stop publishing, pause the build DAG instead.
                was = [state] if state != "active" else []
                was += [] if sysadmin else ["not a sysadmin"]
                log.warning(
                    "CKAN: the publisher %s was %s in the portal: made an active sysadmin again"
                    " (publishing needs it; to stop publishing, pause the govdata_build DAG)",
                    user,
                    " and ".join(was),
                )
                conn.execute(
                    """UPDATE "user" SET sysadmin = true, state = 'active' WHERE id = %s""",
                    (user_id,),
                )
            token = self.token_path.read_text().strip() if self.token_path.exists() else None
            if token and _token_id(token):
                known = conn.execute(
                    "SELECT 1 FROM api_token WHERE id = %s AND user_id = %s",
                    (_token_id(token), user_id),
                ).fetchone()
                if known:
                    return token
                log.warning(
                    "CKAN: the publisher's API token in %s was revoked in the portal: created"
                    " a new one",
                    self.token_path,
                )
        token = self.cli("user", "token", "add", "-q", user, TOKEN_NAME).strip().splitlines()[-1]
        self.home.mkdir(parents=True, exist_ok=True)
        self.token_path.touch(mode=0o600)
        self.token_path.write_text(token.strip() + "\n")
        return token.strip()

    # -- server -------------------------------------------------------------------------------

    def pid(self) -> int | None:
        """The running server's pid, or None (a stale pid file is removed)."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            self.pid_path.unlink(missing_ok=True)
            return None
        except PermissionError:
            return pid
        return pid

    def is_up(self) -> bool:
        """True when ``status_show`` answers at the configured URL."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/3/action/status_show", timeout=5) as r:
                return bool(json.load(r).get("success"))
        except (OSError, ValueError):
            return False

    def start(self, timeout: float = 120.0) -> int:
        """Start the server in the background (no-op when it already runs); return its pid."""
        pid = self.pid()
        if pid is not None and self.is_up():
            if not self._restart_needed():
                return pid
            log.info("CKAN configuration or install changed: restarting the portal")
            self.stop()
            pid = None
        if pid is not None:
            self.stop()
        if self.is_up():
            raise CkanError(f"another server already answers at {self.url}")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.ckan_bin),
            "-c",
            str(self.ini_path),
            "run",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--disable-reloader",
            "--disable-debugger",
            "--threaded",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CKAN_", "VIRTUAL_ENV"))}
        with self.log_path.open("ab") as log_file:
            log_file.write(f"\n--- starting CKAN on {self.url} at {time.ctime()}\n".encode())
            log_file.flush()
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.home,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_path.unlink(missing_ok=True)
                raise CkanError(
                    f"CKAN exited with code {process.returncode} while starting; "
                    f"end of {self.log_path}:\n{self.log_tail()}"
                )
            if self.is_up():
                return process.pid
            time.sleep(0.5)
        self.stop()
        raise CkanError(
            f"CKAN did not answer at {self.url} within {timeout:.0f}s; "
            f"end of {self.log_path}:\n{self.log_tail()}"
        )

    def _restart_needed(self) -> bool:
        """The running server predates the current ckan.ini or CKAN install."""
        try:
            started = self.pid_path.stat().st_mtime
        except FileNotFoundError:
            return False
        inputs = [self.ini_path, self.venv / ".govdata-install-hash"]
        return any(p.exists() and p.stat().st_mtime > started for p in inputs)

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the background server started by :meth:`start` (no-op when not running)."""
        pid = self.pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    # -- organization -------------------------------------------------------------------------

    def ensure_organization(self, token: str) -> None:
        """Create the publishing organization when missing (through the API)."""
        name = self.settings.ckan_organization
        if _api(self.url, "organization_show", {"id": name}, token, missing_ok=True) is None:
            _api(
                self.url,
                "organization_create",
                {
                    "name": name,
                    "title": self.settings.ckan_organization_title,
                    "description": "Dữ liệu mở do tỉnh công bố (tổng hợp, đã ẩn số nhỏ).",
                },
                token,
            )


def check_redis(url: str, timeout: float = 5.0) -> None:
    """Fail early and clearly when CKAN's Redis does not answer PING (CKAN itself only logs)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    commands = b""
    if parts.password:
        user = f"{parts.username} " if parts.username else ""
        commands += f"AUTH {user}{parts.password}\r\n".encode()
    commands += b"PING\r\n"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(commands)
            reply = sock.recv(256)
    except OSError as error:
        raise CkanError(f"Redis at {host}:{port} is unreachable ({error}); CKAN needs it") from None
    if b"+PONG" not in reply:
        raise CkanError(f"Redis at {host}:{port} did not answer PING: {reply[:100]!r}")


def _token_id(token: str) -> str | None:
    """The ``jti`` (api_token row id) of a CKAN JWT API token, without verifying it."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return str(json.loads(base64.urlsafe_b64decode(payload))["jti"])
    except (IndexError, ValueError, KeyError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of this process counts as gone
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        return True


def _ensure_role(conn: psycopg.Connection, user: str, password: str | None) -> None:
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone():
        return
    statement = sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(user))
    if password:
        statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
    conn.execute(statement)


def _ensure_database(conn: psycopg.Connection, dbname: str, owner: str) -> None:
    if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
        return
    conn.execute(
        sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
            sql.Identifier(dbname), sql.Identifier(owner)
        )
    )


def _api(
    url: str, action: str, data: dict[str, object], token: str | None, missing_ok: bool = False
) -> dict[str, object] | None:
    request = urllib.request.Request(
        f"{url}/api/3/action/{action}",
        data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", **({"Authorization": token} if token else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)["result"]
    except urllib.error.HTTPError as error:
        if missing_ok and error.code == 404:
            return None
        raise CkanError(f"{action} failed ({error.code}): {error.read()[:500]!r}") from error


def main(argv: list[str] | None = None) -> int:
    """``python -m govdata.services.ckan {up,down,status,install}`` for the Makefile."""
    import argparse

    from core.settings import load_settings

    parser = argparse.ArgumentParser(prog="python -m govdata.services.ckan", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status", "install", "clean"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    portal = CkanPortal(load_settings())
    try:
        if args.command == "up":
            portal.up()
            print(f"CKAN portal: {portal.url} (log {portal.log_path}, token {portal.token_path})")
        elif args.command == "down":
            portal.down()
        elif args.command == "clean":
            portal.clean()
            print(
                f"CKAN portal cleaned: databases {portal.db.dbname}, "
                f"{portal.datastore_write.dbname} dropped, files {portal.storage_path} deleted"
            )
        elif args.command == "install":
            portal.install()
        else:
            running = portal.is_up()
            print(f"CKAN portal {portal.url}: {'up' if running else 'down'} (pid {portal.pid()})")
            return 0 if running else 1
    except CkanError as error:
        print(f"error: {error}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
