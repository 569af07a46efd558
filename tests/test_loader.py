"""The raw loader's duplicate check: the same answers on DuckDB and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from core.settings import Settings
from core.warehouse import session
from ingestion import ledger
from ingestion.loader import RawTable, ensure_raw_columns, load_batch, replace_snapshot

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


def test_two_provinces_with_the_same_codes_keep_their_rows_apart(settings: Settings) -> None:
    """Agency, dossier and document codes are unique only within a province: the same keys
    from two provinces' systems are two records each, in the raw layer, its ``__latest`` view,
    the reference snapshots, the watermarks and the rejected records."""
    ninh_binh, ha_noi = settings, settings.model_copy(update={"province_code": "01"})
    snapshot = "raw.test__snapshot"
    counts = []
    for province, rows in ((ninh_binh, FIRST), (ha_noi, FIRST), (ninh_binh, SECOND)):
        with session(province) as warehouse:
            ledger.ensure_ops_schema(warehouse)
            TABLE.ensure(warehouse)
            ensure_raw_columns(warehouse, snapshot, [("code", "varchar")])
            warehouse.execute(
                f"create table if not exists {snapshot} (province_code varchar not null, "
                "code varchar, _run_id varchar not null, _loaded_at timestamp not null)"
            )
            with warehouse.transaction():
                rejected = [ledger.Rejection("a", "a reason", "{}")]
                counts.append(load_batch(warehouse, "run", "test", TABLE, rows, rejected,
                                         len(rows) + 1))  # fmt: skip
                codes = rows.select(["code"]).filter(pc.is_valid(rows["code"]))
                replace_snapshot(warehouse, snapshot, codes, "run")
                ledger.write_watermark(warehouse, "test", f"{warehouse.province_code}-{len(rows)}")
    # Hà Nội's copy of Ninh Bình's records is new to the warehouse, not a duplicate of them.
    assert [(c.loaded, c.rejected, c.duplicate) for c in counts] == [(5, 1, 0), (5, 1, 0),
                                                                     (5, 1, 2)]  # fmt: skip
    with session(ninh_binh) as warehouse:
        latest = warehouse.fetch(
            f"select province_code, value from {TABLE.name}__latest where code = 'a' order by 1"
        )
        snapshots = warehouse.fetch(
            f"select province_code, count(*) from {snapshot} group by 1 order by 1"
        )
        watermarks = warehouse.fetch(
            "select province_code, watermark from ops.source_state order by 1"
        )
        rejections = warehouse.fetch(
            "select province_code, count(*) from ops.rejected_records group by 1 order by 1"
        )
        assert ledger.read_watermark(warehouse, "test") == "37-7"
    assert latest == [("01", "v2"), ("37", "v6")]
    # Ninh Bình's snapshot replaced (4 codes, then 6); Hà Nội's kept.
    assert snapshots == [("01", 4), ("37", 6)]
    assert watermarks == [("01", "01-5"), ("37", "37-7")]
    assert rejections == [("01", 1), ("37", 2)]


def test_a_warehouse_from_before_the_province_key_is_refused_with_how_to_rebuild(
    settings: Settings,
) -> None:
    with session(settings) as warehouse:
        warehouse.execute("create schema if not exists raw")
        warehouse.execute(
            f"create table {TABLE.name} (code varchar, part varchar, stamp varchar, "
            "value varchar, _run_id varchar not null, _loaded_at timestamp not null)"
        )
        with pytest.raises(RuntimeError, match=r"before rows were keyed by province.*empty"):
            TABLE.ensure(warehouse)
        warehouse.execute("create schema if not exists ops")
        warehouse.execute(
            "create table ops.source_state (source varchar primary key, "
            "watermark varchar not null, updated_at timestamp not null)"
        )
        with pytest.raises(RuntimeError, match=r"ops.source_state .*keyed by province"):
            ledger.ensure_ops_schema(warehouse)


def test_a_session_for_no_province_ingests_nothing(tmp_path: Path) -> None:
    national = Settings(home=tmp_path, province_code="01,37")
    with session(national) as warehouse:
        ledger.ensure_ops_schema(warehouse)
        TABLE.ensure(warehouse)
        with pytest.raises(RuntimeError, match="ingests for no province"):
            load_batch(warehouse, "run", "test", TABLE, FIRST, [], len(FIRST))
