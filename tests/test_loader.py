"""The raw loader's duplicate check: the same answers on DuckDB and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from govdata.settings import Settings
from govdata.warehouse import session
from ingestion import ledger
from ingestion.loader import RawTable, load_batch

TABLE = RawTable(
    "raw.test__versions",
    pa.schema([("code", pa.string()), ("part", pa.string()), ("stamp", pa.string()),
               ("value", pa.string())]),
    natural_key=("code", "part"),
    updated="stamp",
)  # fmt: skip
FIRST = pa.table({
    "code": ["a", "a", "b", None, "c"],
    "part": ["1", "1", None, "1", "1"],
    "stamp": ["20250101000000", "20250102000000", "20250101000000", "20250101000000", None],
    "value": ["v1", "v2", "v3", "v4", "v5"],
})  # fmt: skip
# Again, with one new version of "a" and one new record.
SECOND = pa.concat_tables([FIRST, pa.table({
    "code": ["a", "d"], "part": ["1", "1"], "stamp": ["20250103000000", "20250101000000"],
    "value": ["v6", "v7"],
})])  # fmt: skip


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_only_versions_not_stored_yet_are_loaded_and_a_null_key_part_never_matches(
    target: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    extra = {"pg_url": request.getfixturevalue("pg_url")} if target == "postgres" else {}
    settings = Settings(home=tmp_path, target=target, **extra)  # type: ignore[arg-type]
    with session(settings) as warehouse:
        ledger.ensure_ops_schema(warehouse)
        TABLE.ensure(warehouse)
        counts = []
        for rows in (FIRST, SECOND):
            with warehouse.transaction():
                counts.append(load_batch(warehouse, "run", "test", TABLE, rows, [], len(rows)))
        stored = warehouse.fetch(f"select value from {TABLE.name} order by value")
    # A version whose key has a null part cannot be recognised: it is loaded each time, on
    # both warehouses alike (the contracts make key fields required, so sources never send one).
    assert [(c.loaded, c.duplicate) for c in counts] == [(5, 0), (5, 2)]
    assert [v for (v,) in stored] == ["v1", "v2", "v3", "v3", "v4", "v4", "v5", "v5", "v6", "v7"]
