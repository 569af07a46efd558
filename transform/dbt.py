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


def run_dbt(
    settings: Settings, command: str, *arguments: str, target_path: Path | None = None
) -> BuildResult:
    """Invoke ``dbt <command>``; raise BuildError naming what failed."""
    if settings.target == "postgres":
        ensure_postgres_database(settings.pg_url)
    else:
        settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    recorded = command.split()[0] == "build"
    if recorded:
        # The ops models read the ledger: its tables exist even before a first ingestion.
        with session(settings) as warehouse:
            ensure_ops_schema(warehouse)
            ensure_build_results(warehouse)
    os.environ.update(dbt_environment(settings))
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
    result: dbtRunnerResult = dbtRunner().invoke(args)
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
