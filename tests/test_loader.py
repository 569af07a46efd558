"""The raw loader's duplicate check: the same answers on DuckDB and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from core.settings import Settings
from core.warehouse import session
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


@pytest.fixture(params=["duckdb", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Each warehouse in turn (PostgreSQL: a fresh database)."""
    if request.param == "postgres":
        return Settings(home=tmp_path, target="postgres", pg_url=request.getfixturevalue("pg_url"))
    return Settings(home=tmp_path, target="duckdb")


def test_only_versions_not_stored_yet_are_loaded_and_a_null_key_part_never_matches(
    settings: Settings,
) -> None:
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


def test_a_raw_table_of_an_earlier_version_is_refused_by_its_columns_or_their_types(
    settings: Settings,
) -> None:
    every_type = RawTable(
        "raw.test__types",
        pa.schema([("text", pa.string()), ("count", pa.int64()), ("code", pa.int32()),
                   ("amount", pa.float64()), ("flag", pa.bool_()), ("day", pa.date32()),
                   ("at", pa.timestamp("us")), ("nested", pa.string())]),
        natural_key=("text",),
        json_columns=("nested",),
    )  # fmt: skip
    # The same names, a timestamp kept as text: loading into it would mix two spellings.
    as_text = RawTable(every_type.name, every_type.schema.set(6, pa.field("at", pa.string())),
                       natural_key=("text",), json_columns=("nested",))  # fmt: skip
    with session(settings) as warehouse:
        every_type.ensure(warehouse)
        every_type.ensure(warehouse)  # again: the table it made is its own
        with pytest.raises(RuntimeError, match=r"earlier version.*at timestamp"):
            as_text.ensure(warehouse)
        warehouse.execute(f"drop table {every_type.name} cascade")
        as_text.ensure(warehouse)
        with pytest.raises(RuntimeError, match=r"earlier version.*at varchar"):
            every_type.ensure(warehouse)
