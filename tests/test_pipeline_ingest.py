"""The ingest step: the document system loads beside the others, and a failure of one system
leaves no run of another half-done."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from core.warehouse import session
from govdata.pipeline import failures, ingest
from ingestion.documents import SOURCES as DOCUMENT_SOURCES


def runs(settings: Settings) -> dict[str, str]:
    with session(settings) as warehouse:
        rows = warehouse.fetch("select source, status from ops.ingest_runs")
    return dict(rows)


def test_every_system_is_loaded_and_counted(home: Path) -> None:
    settings = Settings(home=home, procedures_transport="files")
    results = ingest(settings)
    # Procedures, then documents, then reports: the order of the step's report.
    sources = [r.source for r in results]
    first_document = sources.index(DOCUMENT_SOURCES[0])
    assert sources[first_document : first_document + 3] == list(DOCUMENT_SOURCES)
    assert all(s.startswith("procedures.") for s in sources[:first_document])
    assert all(s.startswith("reports.") for s in sources[first_document + 3 :])
    assert all(r.status == "success" and r.counts.reconciles for r in results)
    assert all(r.counts.loaded for r in results if r.source in DOCUMENT_SOURCES)
    assert set(runs(settings).values()) == {"success"}


def test_a_failing_system_leaves_the_documents_run_finished(home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "procedures-missing"  # nothing there: the procedure system fails
    settings = Settings(home=home, procedures_transport="files", procedures_dir=broken)
    results = ingest(settings)  # the others load; the failure is reported, not raised
    (failed,) = failures(results)
    assert failed.source == "procedures" and "cannot read" in (failed.message or "")
    statuses = runs(settings)
    # The documents ran beside the failing system to their end: loaded and accounted for.
    assert {statuses[s] for s in DOCUMENT_SOURCES} == {"success"}
    assert "running" not in statuses.values()
    with session(settings) as warehouse:
        assert warehouse.fetch("select count(*) from raw.documents__status")[0][0] > 0
