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

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import session
from ingestion.procedures import ProceduresApi, ingest_dossiers
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
                'select count(*), count(distinct "MaHoSo") from raw.procedures__dossiers'
            )
            runs = warehouse.fetch(
                "select rows_read, rows_loaded, rows_rejected, "
                "rows_duplicate, status from ops.ingest_runs order by run_id"
            )
            columns = [r[0] for r in warehouse.fetch(
                "select column_name from information_schema.columns "
                "where table_name = 'procedures__dossiers'")]  # fmt: skip
            anywhere = " || ".join(f"coalesce(cast(\"{c}\" as varchar), '')" for c in columns)
            leaked = warehouse.fetch(
                f"select count(*) from raw.procedures__dossiers "
                f"where {anywhere} like '%@example.vn%'"
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
    assert not {"ChuHoSo", "SoDienThoaiChuHoSo", "EmailChuHoSo", "SoGiayToChuHoSo"} & set(columns)


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


FITTING_REASONS = {
    "malformed_date": ("not in the expected format", "not a valid date"),
    "impossible_date": ("not a valid date",),
    "unknown_procedure": ("procedures code list",),
    "unknown_unit": ("agencies code list",),
    "missing_field": ("missing required field",),
    "wrong_encoding": ("could not encode",),
    "absurd_value": ("SoTien: above", "TrangThai: unknown code"),
    "out_of_order_event": ("out of order",),
}


def stable_parts(entry: dict[str, str]) -> list[str]:
    """Pieces of the record's text that its fault did not change, to find it again."""
    parts = entry["record_key"].split("|")
    if entry["source"] == "procedures.dossiers":
        return [f'"MaHoSo":"{parts[0]}"', f'"NgayCapNhat":"{parts[1]}"']
    code, status, moment = parts
    kept = {
        "missing_field": [f'"TrangThai":{status}', f'"ThoiDiemXuLy":"{moment}"'],
        "absurd_value": [f'"MaHoSo":"{code}"', f'"ThoiDiemXuLy":"{moment}"'],
    }
    return kept.get(entry["kind"], [f'"MaHoSo":"{code}"', f'"TrangThai":{status}'])


@pytest.mark.timeout(600)
def test_every_injected_fault_is_rejected_with_its_reason_and_nothing_good_is_lost(
    tmp_path: Path, small_sources: Path
) -> None:
    from conftest import SMALL_WINDOW

    from ingestion.procedures import ingest_agencies, ingest_events
    from simulator.generate import simulate

    faulty = tmp_path / "faulty"
    simulate(faulty, scale=0.005, seed=7, start=SMALL_WINDOW[0], end=SMALL_WINDOW[1],
             fault_rate=0.05)  # fmt: skip
    manifest = [
        json.loads(line)
        for line in (faulty / "faults.jsonl").read_text().splitlines()
        if line.startswith('{"source": "procedures.')
    ]
    with serving(faulty, port=0) as url:
        settings = settings_for(tmp_path / "home", url)
        with session(settings) as warehouse:
            ingest_agencies(settings, warehouse)
            results = [ingest_dossiers(settings, warehouse), ingest_events(settings, warehouse)]
            rejected = warehouse.fetch("select source, reason, payload from ops.rejected_records")
    by_source = {r.source: r.counts for r in results}
    for source, clean_file in (("procedures.dossiers", "dossiers.jsonl"),
                               ("procedures.events", "events.jsonl")):  # fmt: skip
        entries = [e for e in manifest if e["source"] == source]
        duplicates = [e for e in entries if e["kind"] == "duplicate"]
        spoiled = [e for e in entries if e["kind"] != "duplicate"]
        assert {e["kind"] for e in spoiled} >= (
            {"out_of_order_event"} if "events" in source else {"wrong_encoding", "unknown_unit"}
        )
        # A record the source could not encode arrives as a string: search its text.
        rejections = [
            (reason, text if isinstance(text := json.loads(payload), str) else payload)
            for s, reason, payload in rejected
            if s == source
        ]
        for entry in spoiled:
            found = [reason for reason, payload in rejections
                     if all(part in payload for part in stable_parts(entry))]  # fmt: skip
            assert found, f"not rejected: {entry}"
            assert any(words in found[0] for words in FITTING_REASONS[entry["kind"]]), (
                entry,
                found,
            )
        counts = by_source[source]
        clean_lines = len((small_sources / "procedures" / clean_file).read_text().splitlines())
        # Nothing good is lost: only the spoiled records were rejected, the copies counted.
        assert counts.rejected == len(spoiled)
        assert counts.duplicate == len(duplicates)
        assert counts.loaded == clean_lines - len(spoiled)
        assert counts.reconciles


class Killed(RuntimeError):
    """Stands for the process being killed between two committed pages."""


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_killed_run_resumes_without_losing_or_duplicating(
    target: str, tmp_path: Path, small_sources: Path, request: pytest.FixtureRequest
) -> None:
    from ingestion.procedures import ingest_agencies, ingest_events

    pg = request.getfixturevalue("pg_url") if target == "postgres" else None

    def snapshot(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
        with session(settings) as warehouse:
            return {
                table: warehouse.fetch(f"select {columns} from {table} order by {columns}")
                for table, columns in (
                    ("raw.procedures__dossiers", '"MaHoSo", "NgayCapNhat"'),
                    ("raw.procedures__events", "record_key, status, occurred_at"),
                )
            }

    def pages_then_die(after: int):  # type: ignore[no-untyped-def]
        seen = {"pages": 0}

        def on_page(_: object) -> None:
            seen["pages"] += 1
            if seen["pages"] == after:
                raise Killed

        return on_page

    with serving(small_sources, port=0) as url:
        interrupted = settings_for(tmp_path / "killed", url, target, pg, page_size=400)
        with session(interrupted) as warehouse:
            ingest_agencies(interrupted, warehouse)
            with pytest.raises(Killed):
                ingest_dossiers(interrupted, warehouse, on_page=pages_then_die(2))
            ingest_dossiers(interrupted, warehouse)
            with pytest.raises(Killed):
                ingest_events(interrupted, warehouse, on_page=pages_then_die(3))
            ingest_events(interrupted, warehouse)
            runs = warehouse.fetch(
                "select source, status, rows_read, rows_loaded, rows_rejected, rows_duplicate "
                "from ops.ingest_runs where source <> 'procedures.agencies' order by started_at"
            )
        clean = settings_for(tmp_path / "clean", url, "duckdb")
        with session(clean) as warehouse:
            ingest_agencies(clean, warehouse)
            ingest_dossiers(clean, warehouse)
            ingest_events(clean, warehouse)
    assert [r[1] for r in runs] == ["failed", "success", "failed", "success"]
    assert all(read == loaded + rejected + dup for _, _, read, loaded, rejected, dup in runs)
    assert snapshot(interrupted) == snapshot(clean)


def test_landing_keeps_original_payloads_only_for_the_retention(tmp_path: Path) -> None:
    from datetime import date

    import pyarrow.parquet as pq

    from ingestion import landing

    settings = Settings(home=tmp_path, landing_retention_days=30)
    table = landing.lines_table([b'{"ChuHoSo":"Nguyen Van A"}'], "GET /api/dossiers")
    path = landing.land(settings, "procedures.dossiers", "run-1", 0, table)
    assert pq.read_table(path).column("payload").to_pylist() == [b'{"ChuHoSo":"Nguyen Van A"}']
    old = landing.partition(settings, "procedures.dossiers", date(2020, 1, 1))
    old.mkdir(parents=True)
    (old / "run_id=old-part=00000.parquet").write_bytes(b"")
    removed = landing.prune(settings)
    assert removed == [old] and path.exists()
    assert landing.prune(settings.model_copy(update={"landing_retention_days": None})) == []


def test_the_catalogue_snapshot_is_checked_and_replaced(
    tmp_path: Path, small_sources: Path
) -> None:
    from ingestion.procedures import CATALOGUE_TABLE, ingest_catalogue

    sources = tmp_path / "sources"
    shutil.copytree(small_sources, sources)
    path = sources / "procedures" / "catalogue.json"
    catalogue = json.loads(path.read_text())
    catalogue.append({**catalogue[0], "MaTTHC": "9.999999", "MucDoDVC": "sometimes"})
    catalogue.append("not a procedure")
    path.write_text(json.dumps(catalogue, ensure_ascii=False))
    with serving(sources, port=0) as url:
        settings = settings_for(tmp_path / "home", url)
        with session(settings) as warehouse:
            first = ingest_catalogue(settings, warehouse)
            again = ingest_catalogue(settings, warehouse)
            online = warehouse.fetch(
                f"select count(*), sum(case when \"MucDoDVC\" <> 'khong' then 1 else 0 end), "
                f'count(distinct "MaTTHC") from {CATALOGUE_TABLE}'
            )
            reasons = warehouse.fetch(
                "select record_key, reason from ops.rejected_records order by run_id, reason"
            )
    assert (first.counts.read, first.counts.loaded, first.counts.rejected) == (1879, 1877, 2)
    assert again.counts.reconciles
    assert online == [(1877, 1685, 1877)]  # the snapshot is replaced, not appended
    assert ("9.999999", "MucDoDVC: unknown code") in reasons
    assert any("not a JSON object" in reason for _, reason in reasons)
