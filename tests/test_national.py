"""The national view: the 34 provinces' source systems in one warehouse, keyed by province.

Agency, dossier, document and report codes are unique only within a province, so every raw
row carries the province whose system sent it and every model joins on it. A province's rows
in the national warehouse are those of its own warehouse, built alone from the same sources.
"""

from __future__ import annotations

import math
import os
import time
from datetime import date
from pathlib import Path

import pytest

from core.profile import province_codes
from core.settings import Settings
from core.warehouse import session
from govdata import pipeline, simulation
from transform.dbt import run_dbt

# Five days up to a reporting cut-off (the 14th): each province then has dossiers, documents and
# reports at the smallest scale (the documents' daily batches take most of the time).
WINDOW = (date(2025, 7, 10), date(2025, 7, 14))
SCALE = 0.0005
SEED = 7
KEY = "national-test-key"  # one keyed hash for both warehouses: applicant keys compare
#: Hà Nội (not merged), Ninh Bình and Thành phố Hồ Chí Minh (each merged from three).
COMPARED = ("01", "37", "79")

#: Which rows of each mart are a province's: by the province that recorded them (source-keyed
#: facts and dimensions) or the province the unit belongs to today (unit marts).
BY_PROVINCE = "province_code = ?"
BY_PROVINCE_UNIT = "unit_code = ?"
BY_UNIT = "unit_key in (select unit_key from marts.dim_admin_unit where current_province_code = ?)"
NATIONAL = ""  # the same for every province (the national seeds, the calendar, the targets)
MARTS = {
    "dim_agency": BY_PROVINCE,
    "dim_procedure": BY_PROVINCE,
    "dim_indicator": BY_PROVINCE,
    "dim_reporting_regime": BY_PROVINCE,
    "fct_dossier": BY_PROVINCE,
    "fct_dossier_event": BY_PROVINCE,
    "fct_document": BY_PROVINCE,
    "fct_document_status": BY_PROVINCE,
    "fct_report_submission": BY_PROVINCE,
    "fct_report_indicator_value": BY_PROVINCE,
    "proc_dossiers_month": BY_PROVINCE,
    "doc_documents_agency_month": BY_PROVINCE,
    "doc_receivers_month": BY_PROVINCE,
    "rep_reports_agency_month": BY_PROVINCE,
    "kpi_documents_agency_month": BY_PROVINCE,
    "kpi_reporting_agency_regime": BY_PROVINCE,
    "kpi_dossier_field_channel_month": BY_PROVINCE,
    "kpi_unit_month": BY_PROVINCE,
    "kpi_766_score_unit_month": BY_PROVINCE,
    "kpi_scorecard_province_month": BY_PROVINCE_UNIT,
    "kpi_targets_province_month": BY_PROVINCE_UNIT,
    "kpi_merger_periods": BY_UNIT,
    "kpi_merger_unit_month": BY_UNIT,
    "dim_admin_unit": NATIONAL,
    "bridge_admin_unit_crosswalk": NATIONAL,
    "admin_unit_search": NATIONAL,
    "dim_date": NATIONAL,
    "kpi_targets": NATIONAL,
    "kpi_766_indicators": NATIONAL,
}
#: The provinces side by side (marts/national): a province's own warehouse ranks itself alone.
SIDE_BY_SIDE = {"kpi_766_province_ranking", "kpi_targets_national_month"}
Rows = list[tuple[object, ...]]


def province_rows(settings: Settings, code: str) -> dict[str, Rows]:
    """Each mart's rows of the province, in one order whatever the build."""
    with session(settings) as warehouse:
        tables = {
            name
            for (name,) in warehouse.fetch(
                "select table_name from information_schema.tables "
                "where table_schema = 'marts' and table_type = 'BASE TABLE'"
            )
        }
        # Every mart is compared, but the data team's (ops_*: runs, times).
        assert tables - set(MARTS) - SIDE_BY_SIDE == {t for t in tables if t.startswith("ops_")}
        rows = {}
        for name, where in MARTS.items():
            query = f"select * from marts.{name} {'where ' + where if where else ''} order by all"
            rows[name] = warehouse.fetch(query, [code] if where else [])
    return rows


def same(left: Rows, right: Rows) -> bool:
    """Row by row, floats within a relative 1e-9 (sums in another order)."""
    if len(left) != len(right):
        return False
    for a, b in zip(left, right, strict=True):
        for x, y in zip(a, b, strict=True):
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12):
                    return False
            elif x != y:
                return False
    return True


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GOVDATA_"):
            monkeypatch.delenv(name)


@pytest.mark.slow
@pytest.mark.usefixtures("clean_environment")
def test_the_national_warehouse_holds_each_province_as_its_own_warehouse_does(
    tmp_path: Path,
) -> None:
    national = Settings(home=tmp_path / "national", province_code="all", pii_hash_key=KEY)
    timings: dict[str, float] = {}

    started = time.monotonic()
    summaries = simulation.simulate_sources(
        national, scale=SCALE, seed=SEED, start=WINDOW[0], end=WINDOW[1]
    )
    timings["simulate"] = time.monotonic() - started
    assert [s.province_code for s in summaries] == province_codes()
    for summary in summaries:  # every province has something in each system
        for source in ("procedures.dossiers", "documents.messages", "reports.submissions"):
            assert summary.counts.get(source, 0) > 0, (summary.province_code, source)

    started = time.monotonic()
    results = [r for one in simulation.each_province(national) for r in pipeline.ingest(one)]
    timings["ingest"] = time.monotonic() - started
    assert not pipeline.failures(results)
    assert all(r.counts.reconciles for r in results)
    assert sorted({r.province_code for r in results}) == province_codes()

    started = time.monotonic()
    pipeline.build(national)  # every data test too: the (province_code, key) uniqueness
    timings["build"] = time.monotonic() - started
    print(", ".join(f"{step} {seconds:.0f} s" for step, seconds in timings.items()))

    with session(national) as warehouse:
        scored = warehouse.fetch(
            "select distinct unit_code from marts.kpi_766_score_unit_month "
            "where unit_level = 'province' order by 1"
        )
        raw = warehouse.fetch(
            "select distinct province_code from raw.procedures__dossiers order by 1"
        )
        runs = warehouse.fetch(
            "select count(distinct province_code) from ops.ingest_runs where status = 'success'"
        )
    assert [c for (c,) in scored] == province_codes()
    assert [c for (c,) in raw] == province_codes()
    assert runs == [(34,)]
    check_the_ranking(national)
    national_rows = {code: province_rows(national, code) for code in COMPARED}

    for code in COMPARED:
        alone = Settings(home=tmp_path / code, province_code=code, pii_hash_key=KEY)
        alone.home.mkdir()
        (alone.home / "sources").symlink_to(national.sources_dir / code)
        with simulation.sources_for(alone) as reading:
            assert not pipeline.failures(pipeline.ingest(reading))
        # The models alone: the data tests ran on the national build.
        run_dbt(alone, "build", "--exclude", "resource_type:test", "resource_type:unit_test")
        own = province_rows(alone, code)
        differing = [name for name in MARTS if not same(own[name], national_rows[code][name])]
        assert not differing, f"{code}: {differing} differ from its own warehouse"
        assert own["fct_dossier"] and own["fct_document"] and own["fct_report_submission"]


def check_the_ranking(national: Settings) -> None:
    """Every month ranks the 34 provinces by total points (ties share a rank, the next rank
    skips), and the country's rate is the provinces' numerators over their denominators."""
    with session(national) as warehouse:
        ranking = warehouse.fetch(
            "select period_month, province_code, national_rank, provinces_ranked, total_points"
            " from marts.kpi_766_province_ranking order by period_month, national_rank"
        )
        scores = warehouse.fetch(
            "select distinct period_month, unit_code, total_points"
            " from marts.kpi_766_score_unit_month where unit_level = 'province'"
        )
        national_rates = warehouse.fetch(
            "select period_month, kpi_code, provinces_reporting, numerator, denominator"
            " from marts.kpi_targets_national_month"
        )
        provincial = warehouse.fetch(
            "select period_month, kpi_code, count(*), sum(numerator), sum(denominator)"
            " from marts.kpi_targets_province_month group by all"
        )
    months = {month for month, *_ in ranking}
    assert months
    assert {(m, c, round(t, 9)) for m, c, _, _, t in ranking} == {
        (m, c, round(t, 9)) for m, c, t in scores
    }
    for month in months:
        rows = [r for r in ranking if r[0] == month]
        assert sorted(code for _, code, *_ in rows) == province_codes()
        assert {ranked for *_, ranked, _ in rows} == {34}
        for _, _, rank, _, points in rows:  # rank = 1 + provinces with more points
            assert rank == 1 + sum(1 for *_, other in rows if round(other, 4) > round(points, 4))
    assert sorted(national_rates) == sorted(provincial)
