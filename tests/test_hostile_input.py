"""Input a real province's data team meets: wrong clocks, late batches, broken files, killed
and concurrent runs. Nothing is lost silently and every failure is one clear line."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from core.settings import Settings, load_settings
from core.warehouse import session
from ingestion.contract import latest_acceptable
from ingestion.procedures import ingest_agencies, ingest_dossiers, ingest_events
from simulator.api import serving


def settings_for(home: Path, url: str) -> Settings:
    return Settings(home=home, procedures_api_url=url, page_size=500)


def _append(path: Path, records: list[dict[str, object]]) -> None:
    with path.open("a") as out:
        out.writelines(
            json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
            for record in records
        )


def test_latest_acceptable_is_vietnam_time_plus_the_tolerance() -> None:
    now = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)  # 03:00 the next day in Hà Nội
    assert latest_acceptable(timedelta(hours=1), now) == "20261208040000"


def test_a_record_stamped_in_the_future_never_moves_the_watermark(
    tmp_path: Path, small_sources: Path
) -> None:
    """One version pushed with NgayCapNhat=20991231000000 (and one event dated 2099) is
    rejected with its reason; the watermark stays, so the next genuine update is loaded."""
    sources = tmp_path / "sources"
    shutil.copytree(small_sources, sources)
    dossiers = sources / "procedures" / "dossiers.jsonl"
    events = sources / "procedures" / "events.jsonl"
    first = json.loads(dossiers.read_text().splitlines()[0])
    event = json.loads(events.read_text().splitlines()[0])
    newest = max(json.loads(line)["NgayCapNhat"] for line in dossiers.read_text().splitlines())
    _append(dossiers, [{**first, "NgayCapNhat": "20991231000000"}])
    _append(events, [{**event, "TrangThai": 9, "ThoiDiemXuLy": "20991231000000"}])

    home = tmp_path / "home"
    with serving(sources, port=0) as url:
        settings = settings_for(home, url)
        with session(settings) as warehouse:
            ingest_agencies(settings, warehouse)
            poisoned = ingest_dossiers(settings, warehouse)
            poisoned_events = ingest_events(settings, warehouse)
            rejected = warehouse.fetch(
                "select source, record_key, reason from ops.rejected_records order by source"
            )
    assert poisoned.watermark_to == newest, "a future stamp moved the watermark"
    assert poisoned_events.watermark_to and poisoned_events.watermark_to < "2099"
    assert [(s, k) for s, k, _ in rejected] == [
        ("procedures.dossiers", first["MaHoSo"]),
        ("procedures.events", event["MaHoSo"]),
    ]
    assert all("in the future" in reason for _, _, reason in rejected)
    assert poisoned.counts.reconciles and poisoned_events.counts.reconciles

    # The system pushes a genuine update a minute after the newest one: the next run loads it.
    later = datetime.strptime(newest, "%Y%m%d%H%M%S") + timedelta(minutes=1)
    _append(dossiers, [{**first, "NgayCapNhat": f"{later:%Y%m%d%H%M%S}", "TrangThaiHoSo": 10}])
    with serving(sources, port=0) as url:
        settings = settings_for(home, url)
        with session(settings) as warehouse:
            update = ingest_dossiers(settings, warehouse)
    assert update.counts.loaded == 1, update.counts
    assert update.watermark_to == f"{later:%Y%m%d%H%M%S}"


# -- through the command line: one clear line, the others still load ----------------------------


def invoke(*args: str) -> tuple[int, str]:
    from typer.testing import CliRunner

    from govdata.cli import app

    result = CliRunner().invoke(app, list(args))
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.output
    return result.exit_code, " ".join(result.output.split())


def test_a_second_writer_gets_a_clear_message(home: Path) -> None:
    from core.warehouse import writer_lock

    with writer_lock(load_settings(), "build"):
        code, output = invoke("ingest")
    assert code == 1
    assert "is being written by build (process" in output
    assert "Traceback" not in output


@pytest.mark.slow
def test_a_cut_archive_fails_its_source_only_naming_the_file(
    home: Path, monkeypatch: pytest.MonkeyPatch, small_sources: Path
) -> None:
    """A procedure export cut short (an EOFError inside gzip) is one line naming the file; the
    documents and reports still load; the exit code tells the orchestrator; the fixed file is
    read by the next run."""
    exports = home / "exports" / "procedures"
    exports.mkdir(parents=True)
    shutil.copytree(small_sources / "reference", home / "exports" / "reference")
    clean = (small_sources / "procedures" / "dossiers.jsonl").read_bytes()
    whole = gzip.compress(clean)
    (exports / "dossiers.jsonl.gz").write_bytes(whole[: len(whole) // 2])
    shutil.copy(small_sources / "procedures" / "events.jsonl", exports / "events.jsonl")
    shutil.copy(small_sources / "procedures" / "catalogue.json", exports / "catalogue.json")
    monkeypatch.setenv("GOVDATA_PROCEDURES_TRANSPORT", "files")
    monkeypatch.setenv("GOVDATA_PROCEDURES_DIR", str(exports))
    code, output = invoke("ingest")
    assert code == 1, output
    assert "dossiers.jsonl.gz: the file is cut or damaged" in output
    assert "Aborted" not in output and "Traceback" not in output
    with session(load_settings()) as warehouse:
        loaded = dict(warehouse.fetch("select source, rows_loaded from ops.ingest_runs"))
    assert loaded["documents.status"] > 0 and loaded["reports.submissions"] > 0

    (exports / "dossiers.jsonl.gz").write_bytes(whole)  # the system sends the file again
    code, output = invoke("ingest")
    assert code == 0, output
    with session(load_settings()) as warehouse:
        (count,) = warehouse.fetch("select count(*) from raw.procedures__dossiers")[0]
        running = warehouse.fetch("select count(*) from ops.ingest_runs where status = 'running'")
    assert count == len(clean.splitlines())
    assert running == [(0,)]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_killed_ingest_is_marked_interrupted_by_the_next(home: Path, tmp_path: Path) -> None:
    """kill -9 in the middle of an ingest (a real process): the next run marks it interrupted
    (not running forever) and completes the load, nothing lost or duplicated."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "GOVDATA_PAGE_SIZE": "200"}
    process = subprocess.Popen(
        [sys.executable, "-m", "govdata.cli", "ingest"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    landing = home / "landing"
    deadline = time.monotonic() + 120
    # Killed once a few batches were landed (and some committed).
    while len(list(landing.rglob("*.parquet"))) < 8 and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the ingest ended before it could be killed: {process.stderr.read()}")
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    code, output = invoke("ingest")
    assert code == 0, output
    with session(load_settings()) as warehouse:
        statuses = dict(
            warehouse.fetch("select status, count(*) from ops.ingest_runs group by status")
        )
        messages = warehouse.fetch(
            "select distinct message from ops.ingest_runs where status = 'interrupted'"
        )
        runs = warehouse.fetch(
            "select run_id, source, parts_committed, rows_read from ops.ingest_runs"
        )
        (versions, distinct) = warehouse.fetch(
            'select count(*), count(distinct ("MaHoSo", "NgayCapNhat")) '
            "from raw.procedures__dossiers"
        )[0]
    assert statuses.get("interrupted", 0) >= 1, statuses
    assert "running" not in statuses
    assert "killed or crashed" in messages[0][0]
    expected = len((home / "sources" / "procedures" / "dossiers.jsonl").read_text().splitlines())
    assert versions == distinct == expected

    # The landing keeps what was committed, once: the parts the killed run landed ahead of its
    # last commit were deleted by the next run (which landed them again), half-written files too.
    assert not list(landing.rglob("*.tmp"))
    for run_id, source, committed, read in runs:
        parts = list(landing.glob(f"source={source}/load_date=*/run_id={run_id}-part=*.parquet"))
        assert len(parts) <= committed, (run_id, source)  # snapshots commit without landing
        if source in ("procedures.dossiers", "procedures.events"):
            assert len(parts) == committed, (run_id, source)
            assert sum(pq.read_metadata(part).num_rows for part in parts) == read, run_id


# -- late batches --------------------------------------------------------------------------------


def test_a_batch_that_arrives_late_is_read_by_the_next_run(
    tmp_path: Path, small_sources: Path
) -> None:
    """A reports period and a documents day that appear after later ones were loaded are read
    by the next run (they were read 0, success, when only the highest batch was recorded); a
    day sent again changed is read again, its unchanged records counted as duplicates."""
    from ingestion.documents import ingest_documents
    from ingestion.reports import ingest_reports

    sources = tmp_path / "sources"
    shutil.copytree(small_sources, sources)
    held = tmp_path / "held"
    held.mkdir()
    late_period = sources / "reports" / "period=2025-07"
    late_day = sorted((sources / "documents").iterdir())[5]
    late_period.rename(held / late_period.name)
    late_day.rename(held / late_day.name)

    home = tmp_path / "home"
    home.mkdir()
    (home / "sources").symlink_to(sources, target_is_directory=True)
    settings = Settings(home=home)
    with session(settings) as warehouse:
        ingest_reports(settings, warehouse)
        ingest_documents(settings, warehouse)
        (held / late_period.name).rename(late_period)
        (held / late_day.name).rename(late_day)
        reports = {r.source: r for r in ingest_reports(settings, warehouse)}
        documents = {r.source: r for r in ingest_documents(settings, warehouse)}
        periods = warehouse.fetch(
            "select count(*) from ops.loaded_batches where source = 'reports.submissions'"
        )
        again = {r.source: r for r in ingest_documents(settings, warehouse)}
        for file in late_day.rglob("*"):  # the system sends the day again
            os.utime(file, ns=(file.stat().st_atime_ns, file.stat().st_mtime_ns + 10**9))
        resent = {r.source: r for r in ingest_documents(settings, warehouse)}
    status = resent["documents.status"].counts
    assert status.read > 0 and status.loaded == 0 and status.duplicate == status.read
    submissions = reports["reports.submissions"]
    assert submissions.counts.loaded > 0 and submissions.counts.reconciles
    assert submissions.watermark_to == "2025-08"  # the watermark did not go back
    assert periods == [(3,)]
    assert documents["documents.status"].counts.loaded > 0
    assert all(r.counts.read == 0 for r in again.values()), again  # nothing left to read
