"""Run the dbt project in-process against the configured warehouse."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dbt.cli.main import dbtRunner, dbtRunnerResult

from core.errors import BuildError
from core.settings import REPO_ROOT, Settings
from core.warehouse import ensure_postgres_database, session
from ingestion.ledger import ensure_ops_schema
from transform.build_log import NodeOutcome, ensure_build_results, record_build
from transform.spark import export_sources

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


@dataclass(frozen=True, slots=True)
class BuildResult:
    command: str
    nodes: int
    failures: list[str]
    seconds: float


def dbt_environment(settings: Settings) -> dict[str, str]:
    """The variables profiles.yml reads, derived from the GOVDATA_* settings."""
    environment = {
        "GOVDATA_TARGET": settings.target,
        "GOVDATA_WAREHOUSE_PATH": str(settings.warehouse_path),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "GOVDATA_SPARK_DIR": str(settings.spark_dir),
        "GOVDATA_SPARK_MASTER": settings.spark_master,
        "GOVDATA_SPARK_DRIVER_MEMORY": settings.spark_driver_memory,
    }
    url = urlsplit(settings.pg_url)
    environment |= {
        "GOVDATA_DBT_PG_HOST": url.hostname or "127.0.0.1",
        "GOVDATA_DBT_PG_PORT": str(url.port or 5432),
        "GOVDATA_DBT_PG_USER": unquote(url.username or "postgres"),
        "GOVDATA_DBT_PG_PASSWORD": unquote(url.password or ""),
        "GOVDATA_DBT_PG_DBNAME": url.path.lstrip("/") or "govdata",
    }
    return environment


def _invoke(
    settings: Settings, command: str, *arguments: str, target_path: Path | None = None
) -> dbtRunnerResult:
    if settings.target == "postgres":
        ensure_postgres_database(settings.pg_url)
    else:
        settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    if settings.target == "spark" and not (settings.spark_dir / "sources").is_dir():
        export_sources(settings)
    args = [
        *command.split(),  # e.g. "build", or "docs generate"
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
        "--target",
        settings.target,
        *arguments,
    ]
    if target_path is not None:
        args += ["--target-path", str(target_path)]
    # profiles.yml reads these while dbt runs; they are put back afterwards, so that a later
    # Settings() in the same process does not take this build's target for its own.
    variables = dbt_environment(settings)
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        result: dbtRunnerResult = dbtRunner().invoke(args)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return result


def run_dbt(
    settings: Settings, command: str, *arguments: str, target_path: Path | None = None
) -> BuildResult:
    """Invoke ``dbt <command>``; raise BuildError naming what failed. A build's node results
    are recorded in ``ops.build_results`` (the data-quality dashboard shows them)."""
    recorded = command.split()[0] == "build"
    if recorded:
        if settings.target == "postgres":
            ensure_postgres_database(settings.pg_url)
        else:
            settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        # The ops models read the ledger: its tables exist even before a first ingestion.
        with session(settings) as warehouse:
            ensure_ops_schema(warehouse)
            ensure_build_results(warehouse)
        if settings.target == "spark":  # the build reads what ingestion has committed so far
            export_sources(settings)
    result = _invoke(settings, command, *arguments, target_path=target_path)
    if result.exception is not None:
        raise BuildError(f"dbt {command} could not run: {result.exception}")
    failures: list[str] = []
    nodes = 0
    seconds = 0.0
    outcomes: list[NodeOutcome] = []
    run_results = getattr(result.result, "results", None) or []
    for node_result in run_results:
        nodes += 1
        seconds += float(getattr(node_result, "execution_time", 0.0) or 0.0)
        if str(node_result.status) in {"error", "fail", "runtime error", "skipped"}:
            failures.append(f"{node_result.node.unique_id}: {node_result.message}")
        outcomes.append(_outcome(node_result))
    if recorded:
        with session(settings) as warehouse:
            record_build(warehouse, settings.target, outcomes)
        if settings.target == "spark":  # marts.ops_build_tests shows this build, as on DuckDB
            export_sources(settings, ("ops.build_results",))
    if not result.success:
        detail = "; ".join(failures[:10]) or "see the dbt log above"
        raise BuildError(f"dbt {command} failed on {settings.target}: {detail}")
    return BuildResult(command, nodes, failures, seconds)


def _outcome(node_result: object) -> NodeOutcome:
    node = node_result.node  # type: ignore[attr-defined]
    failures = getattr(node_result, "failures", None)
    message = getattr(node_result, "message", None)
    return NodeOutcome(
        unique_id=str(node.unique_id),
        resource_type=str(node.resource_type),
        name=str(node.name),
        status=str(node_result.status),  # type: ignore[attr-defined]
        failures=int(failures) if failures is not None else None,
        message=str(message)[:2000] if message is not None else None,
        seconds=float(getattr(node_result, "execution_time", 0.0) or 0.0),
    )


@dataclass(frozen=True, slots=True)
class Freshness:
    """One source table's freshness: how long since its newest row was loaded."""

    source: str  # e.g. procedures.procedures__dossiers
    status: str  # pass, warn, error (stale beyond its declared threshold), runtime error
    age_hours: float | None
    error_after: str  # the declared threshold, e.g. "7 day"

    @property
    def stale(self) -> bool:
        return self.status != "pass" and self.status != "warn"

    def __str__(self) -> str:
        age = "no rows" if self.age_hours is None else f"{self.age_hours:.1f} h"
        return f"{self.source}: {self.status} (last load {age} ago, error after {self.error_after})"


def source_freshness(settings: Settings, target_path: Path | None = None) -> list[Freshness]:
    """``dbt source freshness`` against the thresholds declared with the sources (staging's
    ``_*__sources.yml``): one line per source table; whether stale or not, never raises for
    staleness (the caller decides), only when dbt cannot run."""
    result = _invoke(settings, "source freshness", target_path=target_path)
    if result.exception is not None:
        raise BuildError(f"dbt source freshness could not run: {result.exception}")
    found = []
    for node_result in getattr(result.result, "results", None) or []:
        node = node_result.node
        if not hasattr(node, "source_name"):  # the on-run-start hook (Spark registers sources)
            continue
        threshold = getattr(getattr(node, "freshness", None), "error_after", None)
        declared = f"{threshold.count} {threshold.period}" if threshold and threshold.count else ""
        age = getattr(node_result, "age", None)
        found.append(
            Freshness(
                f"{node.source_name}.{node.name}",
                str(getattr(node_result.status, "value", node_result.status)),
                None if age is None else float(age) / 3600,
                declared,
            )
        )
    return found
