"""A small warehouse for the dashboard tests, built the way the platform builds one.

Three months of the simulated province (conftest's ``small_sources``, crossing the 2025
merger) are ingested and built by the pipeline on DuckDB or PostgreSQL, so every mart the
dashboards read exists with the columns and figures the platform gives. The figures the
dashboards must show are read back from the same marts here (``expected_figures``).
"""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from core.warehouse import session
from govdata.pipeline import build, ingest
from govdata.simulation import sources_for


def build_small_warehouse(settings: Settings, sources: Path) -> None:
    """Ingest the small sources into the settings' warehouse, build it, publish its copy."""
    settings.home.mkdir(parents=True, exist_ok=True)
    link = settings.home / "sources"
    if not link.exists():
        link.symlink_to(sources, target_is_directory=True)
    with sources_for(settings) as reading:  # the simulator serves the procedure API
        results = ingest(reading)
    assert all(r.counts.reconciles for r in results)
    build(settings)


def vietnamese(value: float, decimals: int = 0) -> str:
    """A number as the dashboards print it (Superset's D3_FORMAT): 1.234,5."""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


#: Per dashboard: the big number checked against its mart, the SQL giving the figure (in the
#: month the month filter defaults to, the latest of the dataset it targets), and decimals.
FIGURES: dict[str, tuple[str, str, int]] = {
    "kpi": (
        "Tổng điểm Bộ chỉ số 766 (thang 100)",
        "select max(total_points) from marts.kpi_766_score_unit_month where unit_level ="
        " 'province' and period_month = (select max(period_month)"
        " from marts.kpi_766_score_unit_month)",
        1,
    ),
    "procedures": (
        "Hồ sơ tiếp nhận",
        "select sum(received_count) from marts.proc_dossiers_month where period_month ="
        " (select max(period_month) from marts.proc_dossiers_month)",
        0,
    ),
    "documents": (
        "Văn bản đi",
        "select sum(document_count) from marts.doc_documents_agency_month where period_month"
        " = (select max(period_month) from marts.doc_documents_agency_month)",
        0,
    ),
    "reports": (
        "Báo cáo đến hạn",
        "select sum(due_count) from marts.rep_reports_agency_month where period_month ="
        " (select max(period_month) from marts.rep_reports_agency_month)",
        0,
    ),
    "merger": (
        "Đơn vị cũ có số liệu",
        "select count(distinct unit_key) from marts.kpi_merger_unit_month where not is_current",
        0,
    ),
    "data-quality": (
        "Bản ghi đã đọc",
        "select sum(rows_read) from marts.ops_ingest_runs",
        0,
    ),
    "national": (
        "Tổng điểm bình quân cả nước",
        "select avg(total_points) from marts.kpi_766_province_ranking where period_month ="
        " (select max(period_month) from marts.kpi_766_province_ranking)",
        1,
    ),
}


def expected_figures(settings: Settings) -> dict[str, tuple[str, str]]:
    """Per dashboard, (big number's title, the figure as shown) read from the warehouse."""
    figures = {}
    with session(settings) as warehouse:
        for topic, (title, sql, decimals) in FIGURES.items():
            (value,) = warehouse.fetch(sql)[0]
            assert value, (topic, value)  # a figure, not an empty mart
            figures[topic] = (title, vietnamese(float(value), decimals))
    return figures
