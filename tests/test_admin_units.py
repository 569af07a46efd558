"""The administrative-unit dimension, the 2025 crosswalk and the unit search, built on DuckDB.

Only the models that read the reference seeds are built: no source data is needed.
"""

from __future__ import annotations

import csv
import importlib.util
from collections import Counter
from pathlib import Path

import pytest

from core.settings import Settings
from core.warehouse import session
from transform.dbt import DBT_PROJECT_DIR, run_dbt

SEEDS = DBT_PROJECT_DIR / "seeds"
UNIT_MODELS = (
    "admin_units admin_unit_crosswalk dim_admin_unit bridge_admin_unit_crosswalk "
    "int_admin_units__current_units admin_unit_search"
)


def _generator():  # type: ignore[no-untyped-def]
    path = DBT_PROJECT_DIR / "scripts" / "generate_admin_units.py"
    spec = importlib.util.spec_from_file_location("generate_admin_units", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read(name: str) -> list[dict[str, str]]:
    with (SEEDS / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_seeds_are_what_the_script_generates(tmp_path: Path) -> None:
    _generator().main(tmp_path)
    for name in (
        "admin_units.csv", "admin_units.yml", "admin_unit_crosswalk.csv",
        "admin_unit_crosswalk.yml",
    ):  # fmt: skip
        assert (tmp_path / name).read_bytes() == (SEEDS / name).read_bytes(), name
    assert "vietnamadminunits==" in (SEEDS / "admin_unit_crosswalk.yml").read_text()


def test_crosswalk_covers_every_old_and_new_unit() -> None:
    units = _read("admin_units.csv")
    pairs = _read("admin_unit_crosswalk.csv")
    old = {(u["unit_level"], u["unit_code"]) for u in units if u["valid_to"]}
    new = {(u["unit_level"], u["unit_code"]) for u in units if not u["valid_to"]}
    levels = Counter((u["unit_level"], bool(u["valid_to"])) for u in units)
    assert levels == {
        ("province", False): 34, ("commune", False): 3321,
        ("province", True): 63, ("district", True): 696, ("commune", True): 10035,
    }  # fmt: skip
    assert {(p["old_unit_level"], p["old_unit_code"]) for p in pairs} == old
    assert {(p["new_unit_level"], p["new_unit_code"]) for p in pairs} == new
    # Every old commune and island district reaches one default successor commune.
    to_commune = [p for p in pairs if p["new_unit_level"] == "commune"]
    defaults = Counter(
        p["old_unit_code"] for p in to_commune if p["is_default_successor"] == "true"
    )
    assert set(defaults.values()) == {1} and len(defaults) == 10035 + 5
    split = [p for p in to_commune if p["is_partly_merged"] == "true"]
    assert len({p["old_unit_code"] for p in split}) == 471 and len(split) == 1033
    # Whole provinces merged: Hà Nam (35), Nam Định (36) and Ninh Bình (37) became 37.
    provinces = [p for p in pairs if p["old_unit_level"] == "province"]
    assert {p["old_unit_code"] for p in provinces if p["new_unit_code"] == "37"} == {
        "35",
        "36",
        "37",
    }


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    home = tmp_path_factory.mktemp("units")
    settings = Settings(home=home, target="duckdb")
    result = run_dbt(settings, "build", "--select", UNIT_MODELS, target_path=home / "target")
    assert not result.failures, result.failures
    return settings


def fetch(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    with session(settings) as connection:
        return connection.fetch(sql)


def test_weights_of_an_old_unit_sum_to_one(warehouse: Settings) -> None:
    sums = fetch(
        warehouse,
        "select old_unit_key, new_unit_level, sum(weight), count(*), bool_or(is_partly_merged) "
        "from marts.bridge_admin_unit_crosswalk group by 1, 2",
    )
    assert len(sums) == 63 + 696 + 10035 + 5
    assert all(abs(total - 1) < 1e-12 for _, _, total, _, _ in sums)
    assert all(partly == (count > 1) for _, _, _, count, partly in sums)
    split = fetch(
        warehouse,
        "select new_unit_code, weight, is_default_successor from marts.bridge_admin_unit_crosswalk "
        "where old_unit_key = '13285/..2025-06-30' order by new_unit_code",
    )
    # Phường Quang Trung (Phủ Lý) was split between Phủ Lý (13285) and Hà Nam (13366).
    assert split == [("13285", 0.5, False), ("13366", 0.5, True)]


def test_reused_codes_resolve_by_date(warehouse: Settings) -> None:
    def name_on(code: str, day: str) -> list[object]:
        rows = fetch(
            warehouse,
            f"select unit_name from marts.dim_admin_unit where unit_code = '{code}' and "
            f"date '{day}' between coalesce(valid_from, date '0001-01-01') "
            "and coalesce(valid_to, date '9999-12-31')",
        )
        return [name for (name,) in rows]

    assert name_on("13285", "2025-06-30") == ["Phường Quang Trung"]
    assert name_on("13285", "2025-07-01") == ["Phường Phủ Lý"]
    assert name_on("36", "2025-06-30") == ["Tỉnh Nam Định"]
    assert name_on("36", "2025-07-01") == []
    # No code names two units on the same day.
    (overlaps,) = fetch(
        warehouse,
        "select count(*) from marts.dim_admin_unit a join marts.dim_admin_unit b "
        "on a.unit_code = b.unit_code and a.unit_key < b.unit_key "
        "and coalesce(a.valid_from, date '0001-01-01') <= coalesce(b.valid_to, date '9999-12-31') "
        "and coalesce(b.valid_from, date '0001-01-01') <= coalesce(a.valid_to, date '9999-12-31')",
    )
    assert overlaps == (0,)
    # 3,316 of the 3,321 new commune codes were old codes; 2,145 now name another commune.
    ((reused, renamed),) = fetch(
        warehouse,
        "select count(*), count(*) filter (where min_name <> max_name) from ("
        "select unit_code, min(unit_name) as min_name, max(unit_name) as max_name "
        "from marts.dim_admin_unit where unit_level = 'commune' group by unit_code "
        "having count(*) > 1) as codes",
    )
    assert (reused, renamed) == (3316, 2145)


def test_current_units_of_a_recorded_unit(warehouse: Settings) -> None:
    rows = fetch(
        warehouse,
        "select current_unit_level, current_unit_code, weight, is_default_successor "
        "from intermediate.int_admin_units__current_units where recorded_unit_code = '13285' "
        "and date '2025-06-15' between recorded_valid_from and recorded_valid_to "
        "order by 1, 2",
    )
    assert rows == [
        ("commune", "13285", 0.5, False), ("commune", "13366", 0.5, True),
        ("province", "37", 1.0, True),
    ]  # fmt: skip
    # Old provinces and districts reach the current province only; a current unit itself.
    levels = fetch(
        warehouse,
        "select recorded_unit_level, recorded_valid_to = date '9999-12-31', current_unit_level, "
        "count(distinct recorded_unit_key), round(sum(weight), 6) "
        "from intermediate.int_admin_units__current_units group by 1, 2, 3 order by 1, 2, 3",
    )
    assert levels == [
        ("commune", False, "commune", 10035, 10035.0),
        ("commune", False, "province", 10035, 10035.0),
        ("commune", True, "commune", 3321, 3321.0), ("commune", True, "province", 3321, 3321.0),
        ("district", False, "commune", 5, 5.0), ("district", False, "province", 696, 696.0),
        ("province", False, "province", 63, 63.0), ("province", True, "province", 34, 34.0),
    ]  # fmt: skip


def test_search_by_name_without_diacritics_returns_history(warehouse: Settings) -> None:
    rows = fetch(
        warehouse,
        "select unit_code, unit_name, unit_level, relation, related_unit_code, related_unit_name "
        "from marts.admin_unit_search where search_name like '%phu ly%' order by all",
    )
    found = {(code, name) for code, name, *_ in rows}
    assert {("347", "Thành phố Phủ Lý"), ("13285", "Phường Phủ Lý")} <= found
    history = {(code, relation, related) for code, _, _, relation, related, _ in rows}
    assert ("347", "became", "37") in history  # the district went to the new province
    assert ("347", "communes_became", "13285") in history  # its wards to the new ward
    assert ("13285", "came_from", "13285") in history  # the reused code's old ward
    nam_dinh = fetch(
        warehouse,
        "select unit_code, related_unit_code, related_unit_name, change_date "
        "from marts.admin_unit_search where search_name = 'tinh nam dinh'",
    )
    assert [(c, r, n, str(d)) for c, r, n, d in nam_dinh] == [
        ("36", "37", "Tỉnh Ninh Bình", "2025-07-01")
    ]
    # By code: both units the code 13285 named, each with its history.
    by_code = fetch(
        warehouse,
        "select distinct unit_name, valid_to from marts.admin_unit_search "
        "where unit_code = '13285' order by valid_to nulls last",
    )
    assert [name for name, _ in by_code] == ["Phường Quang Trung", "Phường Phủ Lý"]
