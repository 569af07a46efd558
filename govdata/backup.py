"""Backing up and restoring the warehouse with its ``ops`` state and the pipeline's secrets.

What a restore must bring back for ingestion to carry on where it stopped: the raw layer, the
``ops`` ledger (watermarks, runs, rejected records) and the keyed-hash secret (without it, the
same applicant would get another pseudonym after the restore). The marts come along too, so
dashboards can be served before the next build. DuckDB is exported as Parquet (``EXPORT
DATABASE``), PostgreSQL with ``pg_dump`` in its directory format; both are restored into an
empty warehouse only, unless asked to replace it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import psycopg

from core.errors import BackupError
from core.settings import Settings
from core.warehouse import ensure_postgres_database, writer_lock

MANIFEST = "govdata-backup.json"


@dataclass(frozen=True, slots=True)
class BackupSummary:
    directory: Path
    target: str
    tables: int


def backup(settings: Settings, directory: Path) -> BackupSummary:
    """Write the warehouse, its ``ops`` state and the secrets to ``directory`` (new or empty)."""
    directory = directory.resolve()
    if directory.exists() and any(directory.iterdir()):
        raise BackupError(f"backup: {directory} is not empty; give a new directory")
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)  # the secrets and the ops ledger are inside
    with writer_lock(settings, "backup"):
        # The spark target's state is the DuckDB file too (raw, ops); its Spark tables are
        # rebuilt from it by the next build.
        if settings.target != "postgres":
            if not settings.warehouse_path.exists():
                raise BackupError(f"backup: no warehouse at {settings.warehouse_path}")
            # Not read_only: this process may hold the file already (dbt's adapter does), and
            # DuckDB refuses a second configuration; the writer lock keeps others out.
            with duckdb.connect(str(settings.warehouse_path)) as warehouse:
                tables = _export_duckdb(warehouse, directory / "duckdb")
        else:
            tables = _pg_tables(settings.pg_url)
            _run(["pg_dump", "--format=directory", "--no-owner", "--file",
                  str(directory / "postgres"), "--dbname", settings.pg_url], "backup")  # fmt: skip
        secrets = settings.home / "secrets"
        if secrets.is_dir():
            shutil.copytree(secrets, directory / "secrets")
    manifest = {
        "target": settings.target,
        "province_code": settings.province_code,
        "tables": tables,
        "written_at": f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return BackupSummary(directory, settings.target, tables)


def restore(settings: Settings, directory: Path, replace: bool = False) -> BackupSummary:
    """Bring a backup back into the settings' warehouse (empty, unless ``replace``)."""
    directory = directory.resolve()
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError) as error:
        raise BackupError(f"restore: {directory} holds no backup ({MANIFEST}: {error})") from None
    if manifest["target"] != settings.target:
        raise BackupError(
            f"restore: the backup is of a {manifest['target']} warehouse, the settings say "
            f"{settings.target}"
        )
    if manifest["province_code"] != settings.province_code:
        raise BackupError(
            f"restore: the backup holds province {manifest['province_code']}, the settings say "
            f"{settings.province_code}"
        )
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.claim_home()
    with writer_lock(settings, "restore"):
        if settings.target != "postgres":
            _restore_duckdb(settings, directory, replace)
        else:
            _restore_postgres(settings, directory, replace)
        if (directory / "secrets").is_dir():
            shutil.copytree(directory / "secrets", settings.home / "secrets", dirs_exist_ok=True)
            for path in (settings.home / "secrets").iterdir():
                path.chmod(0o600)
    return BackupSummary(directory, settings.target, int(manifest["tables"]))


def _restore_duckdb(settings: Settings, directory: Path, replace: bool) -> None:
    path = settings.warehouse_path
    if path.exists() and not replace:
        raise BackupError(f"restore: {path} exists; move it away or restore with --replace")
    staging = path.with_suffix(".restoring.duckdb")
    staging.unlink(missing_ok=True)
    with duckdb.connect(str(staging)) as warehouse:
        _import_duckdb(warehouse, directory / "duckdb")
    os.replace(staging, path)  # the old warehouse stays whole until the new one is


def _restore_postgres(settings: Settings, directory: Path, replace: bool) -> None:
    ensure_postgres_database(settings.pg_url)
    if _pg_tables(settings.pg_url) and not replace:
        name = urlsplit(settings.pg_url).path.lstrip("/")
        raise BackupError(f"restore: database {name} is not empty; restore with --replace")
    arguments = ["pg_restore", "--no-owner", "--dbname", settings.pg_url]
    if replace:
        arguments += ["--clean", "--if-exists"]
    _run([*arguments, str(directory / "postgres")], "restore")


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _export_duckdb(warehouse: duckdb.DuckDBPyConnection, directory: Path) -> int:
    """Each table as Parquet with its DDL, and the views' DDL, in ``directory``. (DuckDB's
    EXPORT DATABASE writes views in an order its IMPORT cannot always replay: a dbt view on a
    view of another schema.)"""
    directory.mkdir()
    tables = warehouse.execute(
        "select schema_name, table_name, sql from duckdb_tables() "
        "where database_name = current_database() order by 1, 2"
    ).fetchall()
    views = warehouse.execute(
        "select schema_name, view_name, sql from duckdb_views() "
        "where database_name = current_database() and not internal order by 1, 2"
    ).fetchall()
    catalogue = {"tables": [], "views": [{"schema": s, "name": n, "sql": q} for s, n, q in views]}
    for number, (schema, name, ddl) in enumerate(tables):
        file = directory / f"{number:04d}.parquet"
        warehouse.execute(f'copy "{schema}"."{name}" to {_literal(file)} (format parquet)')
        catalogue["tables"].append({"schema": schema, "name": name, "sql": ddl, "file": file.name})
    (directory / "catalogue.json").write_text(json.dumps(catalogue, indent=1) + "\n")
    return len(tables)


def _import_duckdb(warehouse: duckdb.DuckDBPyConnection, directory: Path) -> None:
    catalogue = json.loads((directory / "catalogue.json").read_text())
    schemas = {t["schema"] for t in catalogue["tables"]} | {v["schema"] for v in catalogue["views"]}
    for schema in sorted(schemas):
        warehouse.execute(f'create schema if not exists "{schema}"')
    for table in catalogue["tables"]:
        warehouse.execute(table["sql"])
        warehouse.execute(
            f'copy "{table["schema"]}"."{table["name"]}" from '
            f"{_literal(directory / table['file'])} (format parquet)"
        )
    pending = list(catalogue["views"])
    while pending:  # a view after the views it reads, whatever their order
        failed = []
        for view in pending:
            try:
                warehouse.execute(view["sql"])
            except duckdb.CatalogException:
                failed.append(view)
        if len(failed) == len(pending):
            names = ", ".join(f"{v['schema']}.{v['name']}" for v in failed)
            raise BackupError(f"restore: views that read what does not exist: {names}")
        pending = failed


def _pg_tables(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute(
            "select count(*) from information_schema.tables where table_type = 'BASE TABLE' "
            "and table_schema not in ('pg_catalog', 'information_schema')"
        ).fetchone()
    return int(row[0]) if row else 0


def _run(arguments: list[str], step: str) -> None:
    """Run a PostgreSQL client; its password, if any, goes by the environment (``ps`` shows
    argv), never on the command line."""
    url = urlsplit(arguments[arguments.index("--dbname") + 1])
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = url.password
        clean = url._replace(netloc=url.netloc.replace(f":{url.password}@", "@")).geturl()
        arguments = [clean if a.startswith(("postgresql://", "postgres://")) else a
                     for a in arguments]  # fmt: skip
    if shutil.which(arguments[0]) is None:
        raise BackupError(f"{step}: {arguments[0]} is not installed (postgresql-client)")
    finished = subprocess.run(arguments, env=environment, capture_output=True, text=True)
    if finished.returncode != 0:
        detail = (finished.stderr or finished.stdout).strip().splitlines()
        raise BackupError(f"{step}: {arguments[0]} failed: {detail[-1] if detail else '?'}")
