"""Ingesting the procedure system: counts reconcile, bad records are kept, nothing is lost."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from govdata.settings import Settings
from govdata.warehouse import session
from ingestion.procedures import ProceduresApi, SourceError, ingest_dossiers
from simulator.api import NEVER, ProcedureExports, _handler, serving


def settings_for(
    home: Path, url: str, target: str = "duckdb", pg_url: str | None = None, page_size: int = 500
) -> Settings:
    extra = {"pg_url": pg_url} if pg_url else {}
    return Settings(home=home, target=target, procedures_api_url=url, page_size=page_size, **extra)


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_ingest_reconciles_and_reruns_change_nothing(
    target: str, tmp_path: Path, small_sources: Path, request: pytest.FixtureRequest
) -> None:
    pg_url = request.getfixturevalue("pg_url") if target == "postgres" else None
    expected = (small_sources / "procedures" / "dossiers.jsonl").read_text().splitlines()
    with serving(small_sources, port=0) as url:
        settings = settings_for(tmp_path, url, target, pg_url)
        with session(settings) as warehouse:
            first = ingest_dossiers(settings, warehouse)
            again = ingest_dossiers(settings, warehouse)
            raw = warehouse.fetch(
                "select count(*), count(distinct record_key) from raw.procedures__dossiers"
            )
            runs = warehouse.fetch(
                "select rows_read, rows_loaded, rows_rejected, "
                "rows_duplicate, status from ops.ingest_runs order by run_id"
            )
            leaked = warehouse.fetch(
                "select count(*) from raw.procedures__dossiers "
                "where cast(payload as varchar) like '%ChuHoSo\"%' "
                "or cast(payload as varchar) like '%@example.vn%'"
            )
    assert first.counts.read == first.counts.loaded == len(expected)
    assert first.counts.reconciles and again.counts.reconciles
    assert again.counts.loaded == 0
    dossiers = {json.loads(line)["MaHoSo"] for line in expected}
    assert raw == [(len(expected), len(dossiers))]  # every version, history kept
    assert [r[4] for r in runs] == ["success", "success"]
    assert all(
        read == loaded + rejected + duplicate for read, loaded, rejected, duplicate, _ in runs
    )
    assert leaked == [(0,)], "personal data reached the raw layer"


def test_invalid_records_are_kept_with_their_reason(tmp_path: Path, small_sources: Path) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(small_sources, sources)
    path = sources / "procedures" / "dossiers.jsonl"
    lines = path.read_text().splitlines()
    good = json.loads(lines[0])
    bad = {
        "no-code": {**good, "MaHoSo": None},
        "bad-date": {**good, "MaHoSo": "X-1", "NgayTiepNhan": "2025-13-45"},
        "bad-status": {**good, "MaHoSo": "X-2", "TrangThaiHoSo": 42},
        "bad-channel": {**good, "MaHoSo": "X-3", "KenhThucHien": 9},
    }
    lines += [json.dumps(record) for record in bad.values()] + [lines[1]]  # + one duplicate
    path.write_text("\n".join(lines) + "\n")

    with serving(sources, port=0) as url:
        settings = settings_for(tmp_path / "home", url)
        with session(settings) as warehouse:
            result = ingest_dossiers(settings, warehouse)
            rejected = dict(
                warehouse.fetch(
                    "select coalesce(record_key, '?'), reason from ops.rejected_records"
                )
            )
    counts = result.counts
    assert (counts.read, counts.rejected, counts.duplicate) == (len(lines), 4, 1)
    assert counts.loaded == len(lines) - 5 and counts.reconciles
    assert "MaHoSo" in rejected["?"]
    assert "NgayTiepNhan" in rejected["X-1"]
    assert "TrangThaiHoSo" in rejected["X-2"]
    assert "KenhThucHien" in rejected["X-3"]


@contextmanager
def flaky_api(directory: Path, fail_every: int) -> Iterator[str]:
    """The sync API, answering 503 to every ``fail_every``-th request."""
    base = _handler(ProcedureExports(directory), NEVER)
    calls = {"n": 0}

    class Flaky(base):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:
            calls["n"] += 1
            if calls["n"] % fail_every == 0:
                self.send_error(503, "maintenance")
                return
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_transient_errors_are_retried(tmp_path: Path, small_sources: Path) -> None:
    with flaky_api(small_sources, fail_every=2) as url:
        settings = settings_for(tmp_path, url, page_size=200)
        api = ProceduresApi(url, timeout=10, backoff_seconds=0.01)
        with session(settings) as warehouse:
            result = ingest_dossiers(settings, warehouse, api=api)
    total = len((small_sources / "procedures" / "dossiers.jsonl").read_text().splitlines())
    assert result.counts.loaded == total


def test_a_source_that_stays_down_fails_the_run_with_a_clear_message(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "http://127.0.0.1:9")  # nothing listens on port 9
    api = ProceduresApi(settings.procedures_api_url, timeout=2, attempts=2, backoff_seconds=0.01)
    with session(settings) as warehouse:
        with pytest.raises(SourceError, match=r"procedures\.dossiers: GET /api/\w+ failed 2 times"):
            ingest_dossiers(settings, warehouse, api=api)
        status = warehouse.fetch("select status, message from ops.ingest_runs")
    assert status[0][0] == "failed" and "failed 2 times" in status[0][1]
