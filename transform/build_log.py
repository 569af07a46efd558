"""The outcome of every node of a dbt build, kept in ops.build_results.

The data team's dashboard shows the latest build's tests (marts.ops_build_tests, a view over
this table through dbt), so the results are written to the warehouse the build ran on, in one
transaction, before the serving copy is swapped.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from core.warehouse import Warehouse

BUILD_RESULTS_DDL = (
    "create schema if not exists ops",
    """create table if not exists ops.build_results (
        build_id varchar not null,
        target varchar not null,
        finished_at timestamp not null,
        unique_id varchar not null,
        resource_type varchar not null,
        node_name varchar not null,
        status varchar not null,
        failures bigint,
        message varchar,
        execution_seconds double precision
    )""",
)
#: Builds kept; older ones are deleted when a build is recorded.
KEPT_BUILDS = 30


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    unique_id: str
    resource_type: str
    name: str
    status: str
    failures: int | None
    message: str | None
    seconds: float


def ensure_build_results(warehouse: Warehouse) -> None:
    for statement in BUILD_RESULTS_DDL:
        warehouse.execute(statement)


def record_build(warehouse: Warehouse, target: str, outcomes: Sequence[NodeOutcome]) -> str:
    """Append one build's node outcomes; returns its id. Keeps the latest KEPT_BUILDS."""
    finished = datetime.now(UTC).replace(tzinfo=None)
    build_id = f"{finished:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    rows = pa.table(
        {
            "build_id": pa.array([build_id] * len(outcomes), pa.string()),
            "target": pa.array([target] * len(outcomes), pa.string()),
            "finished_at": pa.array([finished] * len(outcomes), pa.timestamp("us")),
            "unique_id": pa.array([o.unique_id for o in outcomes], pa.string()),
            "resource_type": pa.array([o.resource_type for o in outcomes], pa.string()),
            "node_name": pa.array([o.name for o in outcomes], pa.string()),
            "status": pa.array([o.status for o in outcomes], pa.string()),
            "failures": pa.array([o.failures for o in outcomes], pa.int64()),
            "message": pa.array([o.message for o in outcomes], pa.string()),
            "execution_seconds": pa.array([o.seconds for o in outcomes], pa.float64()),
        }
    )
    ensure_build_results(warehouse)
    with warehouse.transaction():
        if outcomes:
            warehouse.append("ops.build_results", rows)
        warehouse.execute(
            "delete from ops.build_results where build_id not in (select build_id from"
            " (select build_id, max(finished_at) as finished_at from ops.build_results"
            " group by build_id order by finished_at desc limit ?) as kept)",
            [KEPT_BUILDS],
        )
    return build_id
