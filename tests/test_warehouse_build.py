"""The dbt project builds on DuckDB and on PostgreSQL, and its marts agree row by row."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from govdata.dbt import DBT_PROJECT_DIR, run_dbt
from govdata.pipeline import ingest
from govdata.settings import Settings
from govdata.warehouse import Warehouse, session

MARTS = {
    "marts.kpi_unit_month": "period_month, unit_code, unit_level, kpi_code, boundaries",
    "marts.fct_dossier": "dossier_code",
    "marts.dim_admin_unit": "unit_key",
    "marts.bridge_admin_unit_crosswalk": "old_unit_key, new_unit_key",
    "marts.admin_unit_search": "unit_key, relation, related_unit_key",
    "marts.dim_agency": "agency_code, valid_from",
}


def build_on(settings: Settings, sources: Path) -> dict[str, list[tuple[object, ...]]]:
    """Ingest every source system through the pipeline, then build and test every model."""
    settings.home.mkdir(parents=True)
    (settings.home / "sources").symlink_to(sources, target_is_directory=True)
    results = ingest(settings)
    assert {r.source for r in results} >= {
        "procedures.dossiers", "procedures.events", "documents.status", "reports.submissions"
    }  # fmt: skip
    assert all(r.counts.loaded > 0 and r.counts.reconciles for r in results)
    result = run_dbt(settings, "build")
    assert not result.failures
    with session(settings) as warehouse:
        return {table: _sorted(warehouse, table, key) for table, key in MARTS.items()}


def _sorted(warehouse: Warehouse, table: str, key: str) -> list[tuple[object, ...]]:
    """The table's rows in key order, sorted here: engines may collate text differently."""
    width = len(key.split(","))
    rows = warehouse.fetch(f"select {key}, * from {table}")
    rows.sort(key=lambda row: tuple((value is None, value or 0) for value in row[:width]))
    return [row[width:] for row in rows]


def same(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-12)
    return left == right


@pytest.mark.timeout(600)
def test_marts_are_identical_on_duckdb_and_postgres(
    tmp_path: Path, small_sources: Path, pg_url: str
) -> None:
    duckdb_settings = Settings(home=tmp_path / "duckdb", target="duckdb")
    on_duckdb = build_on(duckdb_settings, small_sources)
    on_postgres = build_on(
        Settings(home=tmp_path / "postgres", target="postgres", pg_url=pg_url), small_sources
    )
    for table in MARTS:
        duck_rows, pg_rows = on_duckdb[table], on_postgres[table]
        assert duck_rows, f"{table} is empty"
        assert len(duck_rows) == len(pg_rows), table
        for duck_row, pg_row in zip(duck_rows, pg_rows, strict=True):
            assert all(map(same, duck_row, pg_row)), (table, duck_row, pg_row)

    kpis = on_duckdb["marts.kpi_unit_month"]
    current = [row for row in kpis if row[9] == "current"]
    recorded = [row for row in kpis if row[9] == "as_recorded"]
    assert {row[9] for row in kpis} == {"current", "as_recorded"}
    # On current boundaries history is restated on today's province: 35, 36 and 37 become 37.
    assert {row[1] for row in current if row[3] == "province"} == {"37"}
    assert {row[0].month for row in current if row[3] == "province"} == {6, 7, 8}
    # As recorded, June has the three old provinces, July and August the merged one.
    assert {row[1] for row in recorded if row[3] == "province" and row[0].month == 6} == {
        "35", "36", "37"
    }  # fmt: skip
    assert {row[1] for row in recorded if row[3] == "province" and row[0].month > 6} == {"37"}
    # Communes as recorded: old communes before 1 July 2025, new ones after.
    june = {row[1] for row in recorded if row[3] == "commune" and row[0].month == 6}
    july = {row[1] for row in recorded if row[3] == "commune" and row[0].month == 7}
    assert len(june) > len(july) > 50  # 398 old communes, 129 new ones
    # On current boundaries June is on July's communes, a split commune's share fractional.
    june_now = {row[1] for row in current if row[3] == "commune" and row[0].month == 6}
    assert june_now <= {row[1] for row in on_duckdb["marts.dim_admin_unit"] if row[13]}
    assert any(row[7] != int(row[7]) for row in current if row[0].month == 6)
    # Restating moves figures, it never loses or creates any.
    for month in (6, 7, 8):
        for level in ("province", "commune"):
            totals = [
                sum(row[7] for row in rows if row[3] == level and row[0].month == month)
                for rows in (current, recorded)
            ]
            assert math.isclose(*totals), (month, level, totals)
    # From July both readings agree.
    assert {r[:9] for r in current if r[0].month > 6} == {r[:9] for r in recorded if r[0].month > 6}
    assert all(0 <= row[8] <= 1 for row in kpis if row[8] is not None)

    # `govdata docs`: every model and column documented from the warehouse's catalog.
    run_dbt(duckdb_settings, "docs generate")
    catalog = json.loads((DBT_PROJECT_DIR / "target" / "catalog.json").read_text())
    assert "model.govdata.kpi_unit_month" in catalog["nodes"]
