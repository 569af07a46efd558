"""The DAG files without a running Airflow: they import cleanly and fast, name the raw tables the
connectors write, and give each kind of run the days it should read."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from dags import common
from ingestion import documents, procedures, reports
from ingestion.ledger import DayWindow
from ingestion.procedures.exports import export_files

DAGS_DIR = Path(common.__file__).parent


def test_dagbag_has_no_import_error_and_each_file_parses_in_under_two_seconds() -> None:
    from airflow.dag_processing.dagbag import DagBag

    started = time.monotonic()
    bag = DagBag(str(DAGS_DIR))
    assert bag.import_errors == {}
    assert set(bag.dags) == {
        "govdata_ingest_procedures",
        "govdata_ingest_documents",
        "govdata_ingest_reports",
        "govdata_build",
    }
    for stat in bag.dagbag_stats:
        assert stat.duration.total_seconds() < 2.0, stat
    assert time.monotonic() - started < 10
    for dag in bag.dags.values():
        writers = {t.task_id for t in dag.tasks if t.pool == common.WAREHOUSE_WRITER_POOL}
        expected = {"ingest"} if dag.dag_id != "govdata_build" else {
            "source_freshness", "reconciliation", "build"}  # fmt: skip
        assert writers == expected, dag.dag_id
        assert dag.max_active_runs == 1


def test_the_assets_are_the_raw_tables_the_connectors_write() -> None:
    assert set(common.RAW_TABLES["documents"]) == {t.name for t in documents.RAW_TABLES}
    assert set(common.RAW_TABLES["procedures"]) == {
        procedures.AGENCIES_TABLE,
        procedures.CATALOGUE_TABLE,
        procedures.DOSSIERS_TABLE.name,
        procedures.EVENTS_TABLE.name,
    }
    assert set(common.RAW_TABLES["reports"]) == {
        reports.RAW_TABLE,
        reports.REGIMES_TABLE,
        reports.INDICATORS_TABLE,
    }


def _context(run_type: str, start: datetime | None, end: datetime | None, **params: str) -> dict:
    return {
        "dag_run": SimpleNamespace(run_type=SimpleNamespace(value=run_type)),
        "data_interval_start": start,
        "data_interval_end": end,
        "params": params,
    }


def test_a_run_reads_its_data_interval_in_local_days() -> None:
    # A daily run at local midnight (17:00 UTC the day before) covers one local day.
    day = _context(
        "scheduled", datetime(2025, 6, 1, 17, tzinfo=UTC), datetime(2025, 6, 2, 17, tzinfo=UTC)
    )
    assert common.run_window(day) == (date(2025, 6, 2), date(2025, 6, 2))
    backfill = {**day, "dag_run": SimpleNamespace(run_type="backfill")}
    assert common.run_window(backfill) == (date(2025, 6, 2), date(2025, 6, 2))
    hourly = _context(
        "scheduled", datetime(2025, 6, 1, 3, tzinfo=UTC), datetime(2025, 6, 1, 4, tzinfo=UTC)
    )
    assert common.run_window(hourly) == (date(2025, 6, 1), date(2025, 6, 1))
    # A manual run catches up on everything, unless it names its days.
    assert common.run_window(_context("manual", None, None)) is None
    named = _context("manual", None, None, first_day="2025-06-01", last_day="2025-06-03")
    assert common.run_window(named) == (date(2025, 6, 1), date(2025, 6, 3))


def test_a_window_selects_dated_procedure_exports_and_keeps_undated_ones(tmp_path: Path) -> None:
    for name in ("dossiers.jsonl", "dossiers_2025-06-01.jsonl", "dossiers-20250602.jsonl.gz"):
        (tmp_path / name).write_text("")
    window = DayWindow(date(2025, 6, 2), date(2025, 6, 3))
    assert [p.name for p in export_files(tmp_path, "dossiers", window)] == [
        "dossiers-20250602.jsonl.gz",
        "dossiers.jsonl",
    ]
    assert len(export_files(tmp_path, "dossiers")) == 3
    with pytest.raises(ValueError, match="before it starts"):
        DayWindow(date(2025, 6, 3), date(2025, 6, 2))
    assert window.months() == ("2025-06", "2025-06")
