"""The procedure system's JSON-lines exports: read in blocks, faults isolated, resumable."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from core.settings import Settings
from core.warehouse import Warehouse, session
from ingestion import ledger
from ingestion import lines as lines_module
from ingestion.lines import FileProgress, decode_for_storage, read_blocks, split_lines
from ingestion.privacy import redact
from ingestion.procedures import (
    DOSSIERS_TABLE,
    EVENTS_EXPORT_SOURCE,
    EVENTS_TABLE,
    EXPORT_SOURCE,
    ingest_dossier_exports,
    ingest_dossiers,
    ingest_event_exports,
    ingest_events,
    ingest_reference_exports,
)
from simulator.api import serving

KEY = "the-same-key-for-both-transports"


def settings_for(
    home: Path, sources: Path, target: str = "duckdb", pg: str | None = None
) -> Settings:
    extra = {"pg_url": pg} if pg else {}
    return Settings(home=home, target=target, procedures_transport="files",
                    procedures_dir=sources / "procedures", pii_hash_key=KEY, **extra)  # fmt: skip


def raw_rows(warehouse: Warehouse) -> dict[str, list[tuple[object, ...]]]:
    """Each raw table's rows without lineage; JSON as values (PostgreSQL's jsonb respaces it)."""
    rows = {}
    for table in (DOSSIERS_TABLE, EVENTS_TABLE):
        names = table.schema.names
        columns = ", ".join(f'"{name}"' for name in names)
        key = ", ".join(f'"{name}"' for name in table.key)
        rows[table.name] = [
            tuple(json.loads(v) if n in table.json_columns and isinstance(v, str) else v
                  for n, v in zip(names, row, strict=True))
            for row in warehouse.fetch(f"select {columns} from {table.name} order by {key}")
        ]  # fmt: skip
    return rows


def ingest_all(settings: Settings, warehouse: Warehouse) -> list:  # type: ignore[type-arg]
    ingest_reference_exports(settings, warehouse)
    return [ingest_dossier_exports(settings, warehouse), ingest_event_exports(settings, warehouse)]


def test_split_lines_skips_blank_lines_and_line_ends() -> None:
    lines, numbers, count = split_lines(
        b'{"a":1}\r\n\n{"b":2}\n\r\n{"c":3}\n \t \n  {"d":4}\n', first_line=10
    )
    assert count == 7
    assert lines.to_pylist() == [b'{"a":1}', b'{"b":2}', b'{"c":3}', b'  {"d":4}']
    assert numbers.tolist() == [10, 12, 14, 16]
    # Export blocks keep the line ends: their lines are views of the bytes read.
    data = pa.py_buffer(b'{"a":1}\r\n{"b":2}\n')
    kept, numbers, count = split_lines(data, first_line=1, keep_line_ends=True)
    assert kept.to_pylist() == [b'{"a":1}\r\n', b'{"b":2}\n'] and numbers.tolist() == [1, 2]
    assert kept.buffers()[2].address == data.address
    kept, numbers, count = split_lines(b'{"a":1}\r\n \n{"b":2}\n', 1, keep_line_ends=True)
    assert kept.to_pylist() == [b'{"a":1}\r\n', b'{"b":2}\n'] and numbers.tolist() == [1, 3]


@pytest.mark.parametrize("read_bytes", [100, 64 * 2**10])  # lines across reads, or not
def test_blocks_cover_the_file_whole_lines_only(
    tmp_path: Path, read_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lines_module, "READ_BYTES", read_bytes)
    records = [json.dumps({"n": n, "pad": "x" * (n % 37)}).encode() for n in range(500)]
    records[100:102] = [b"", b"  "]  # blank lines count as lines but are no records
    for name, opener in (("plain.jsonl", open), ("packed.jsonl.gz", gzip.open)):
        path = tmp_path / name
        with opener(path, "wb") as handle:  # type: ignore[operator]
            handle.write(b"\n".join(records))  # no line end after the last line
        blocks = list(read_blocks(path, name, block_lines=30))
        assert [len(b) for b in blocks] == [30, 30, 30, 28] + [30] * 12 + [20]
        assert blocks[-1].end == len(b"\n".join(records))
        # Each line with its line end, the last one's added; without it as rejections store it.
        assert [line for b in blocks for line in b.lines.to_pylist()] == [
            r + b"\n" for r in records if r.strip()
        ]
        assert [b.line(i) for b in blocks for i in range(len(b))] == [
            r for r in records if r.strip()
        ]
        assert [int(n) for b in blocks for n in b.numbers] == [
            n for n in range(1, 501) if n not in (101, 102)
        ]
        # Resuming after the third block reads exactly the rest.
        third = blocks[2]
        rest = list(read_blocks(path, name, third.end, third.next_line, block_lines=30))
        assert [line for b in rest for line in b.lines.to_pylist()] == [
            r + b"\n" for r in records[90:] if r.strip()
        ]
        assert rest[0].numbers[0] == 91


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_exports_load_the_same_rows_as_the_api(
    target: str, tmp_path: Path, small_sources: Path, request: pytest.FixtureRequest
) -> None:
    pg = request.getfixturevalue("pg_url") if target == "postgres" else None
    settings = settings_for(tmp_path / "files", small_sources, target, pg)
    with session(settings) as warehouse:
        first = ingest_all(settings, warehouse)
        again = ingest_all(settings, warehouse)
        from_files = raw_rows(warehouse)
        marks = warehouse.fetch("select source, watermark from ops.source_state order by 1")
    with serving(small_sources, port=0) as url:
        api = Settings(home=tmp_path / "api", procedures_api_url=url, pii_hash_key=KEY)
        with session(api) as warehouse:
            from ingestion.procedures import ingest_agencies

            ingest_agencies(api, warehouse)
            ingest_dossiers(api, warehouse)
            ingest_events(api, warehouse)
            from_api = raw_rows(warehouse)
    assert from_files == from_api  # same rows, same pseudonyms, whichever way they came
    assert all(r.counts.loaded > 0 and r.counts.reconciles for r in first)
    assert all(r.counts.read == 0 for r in again)  # nothing new: the files are marked done
    progress = FileProgress.parse(dict(marks)[EXPORT_SOURCE])
    size = (small_sources / "procedures" / "dossiers.jsonl").stat().st_size
    assert progress.files["dossiers.jsonl"]["offset"] == size


def test_every_fault_of_a_faulty_export_is_rejected_and_nothing_good_is_lost(
    tmp_path: Path, small_sources: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conftest import SMALL_WINDOW
    from test_ingestion import FITTING_REASONS

    from simulator.generate import simulate

    faulty = tmp_path / "faulty"
    simulate(faulty, scale=0.005, seed=7, start=SMALL_WINDOW[0], end=SMALL_WINDOW[1],
             fault_rate=0.05)  # fmt: skip
    manifest = [
        json.loads(line)
        for line in (faulty / "faults.jsonl").read_text().splitlines()
        if line.startswith('{"source": "procedures.')
    ]
    # As over the API, but a line that is not UTF-8 arrives as such, not as a JSON string.
    fitting = FITTING_REASONS | {"wrong_encoding": ("not valid UTF-8",)}
    settings = settings_for(tmp_path / "home", faulty)
    monkeypatch.setattr(lines_module, "BLOCK_LINES", 60)  # many blocks, faults in most of them
    with session(settings) as warehouse:
        results = {r.source: r.counts for r in ingest_all(settings, warehouse)}
        rejected = warehouse.fetch(
            "select source, record_key, reason, payload from ops.rejected_records"
        )
    for source, export, clean_file in (
        ("procedures.dossiers", EXPORT_SOURCE, "dossiers.jsonl"),
        ("procedures.events", EVENTS_EXPORT_SOURCE, "events.jsonl"),
    ):
        entries = [e for e in manifest if e["source"] == source]
        spoiled = [e for e in entries if e["kind"] != "duplicate"]
        reasons = [(key, reason) for s, key, reason, _ in rejected if s == export]
        assert len(reasons) == len(spoiled)
        # Each kept as the line it was, without its line end, its personal values removed.
        lines = (faulty / "procedures" / clean_file).read_bytes().split(b"\n")
        kept = {redact(decode_for_storage(x)) for x in lines}
        assert {p for s, *_, p in rejected if s == export} <= kept
        for entry in spoiled:
            code = entry["record_key"].split("|")[0]
            found = [r for key, r in reasons if key == code or key.startswith("procedures/")]
            assert any(words in reason for reason in found for words in fitting[entry["kind"]]), (
                entry
            )
        counts = results[export]
        clean = len((small_sources / "procedures" / clean_file).read_text().splitlines())
        assert counts.rejected == len(spoiled)
        assert counts.duplicate == len(entries) - len(spoiled)
        assert counts.loaded == clean - len(spoiled)
        assert counts.reconciles


class Killed(RuntimeError):
    """Stands for the process being killed between two committed blocks."""


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_killed_export_run_resumes_mid_file(
    target: str,
    tmp_path: Path,
    small_sources: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pg = request.getfixturevalue("pg_url") if target == "postgres" else None
    sources = tmp_path / "sources"
    shutil.copytree(small_sources, sources)
    settings = settings_for(tmp_path / "killed", sources, target, pg)
    blocks = {"n": 0}

    def die_after_three(_: object) -> None:
        blocks["n"] += 1
        if blocks["n"] == 3:
            raise Killed

    monkeypatch.setattr(lines_module, "BLOCK_LINES", 200)
    with session(settings) as warehouse:
        ingest_reference_exports(settings, warehouse)
        with pytest.raises(Killed):
            ingest_dossier_exports(settings, warehouse, on_page=die_after_three)
        resumed = ingest_dossier_exports(settings, warehouse)
        ingest_event_exports(settings, warehouse)
        # The export grows: the next run reads only the appended lines.
        path = sources / "procedures" / "dossiers.jsonl"
        first_line = path.read_text().splitlines()[0]
        extra = json.loads(first_line) | {"NgayCapNhat": "20250831235959"}
        with path.open("a") as handle:
            handle.write(json.dumps(extra, ensure_ascii=False) + "\n")
        grown = ingest_dossier_exports(settings, warehouse)
        interrupted = raw_rows(warehouse)
    total = len(path.read_text().splitlines())
    assert 0 < resumed.counts.read < total - 1  # resumed mid-file, not from the start
    assert (grown.counts.read, grown.counts.loaded) == (1, 1)
    clean = settings_for(tmp_path / "clean", sources)
    with session(clean) as warehouse:
        ingest_all(clean, warehouse)
        assert raw_rows(warehouse) == interrupted


def test_a_replaced_export_is_read_again_and_duplicates_are_counted(
    tmp_path: Path, small_sources: Path
) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(small_sources, sources)
    settings = settings_for(tmp_path / "home", sources)
    path = sources / "procedures" / "dossiers.jsonl"
    with session(settings) as warehouse:
        ingest_reference_exports(settings, warehouse)
        first = ingest_dossier_exports(settings, warehouse)
        lines = path.read_text().splitlines()
        path.write_text("\n".join(reversed(lines)) + "\n")  # same records, another file
        again = ingest_dossier_exports(settings, warehouse)
    assert again.counts.read == first.counts.read
    assert (again.counts.loaded, again.counts.duplicate) == (0, first.counts.loaded)


def test_exports_without_the_catalogue_fail_with_a_clear_message(
    tmp_path: Path, small_sources: Path
) -> None:
    from core.errors import SourceError

    settings = settings_for(tmp_path, small_sources)
    with session(settings) as warehouse:
        with pytest.raises(SourceError, match="load the catalogue and agency directory"):
            ingest_dossier_exports(settings, warehouse)
        runs = warehouse.fetch("select source, status, message from ops.ingest_runs")
    assert [(source, status) for source, status, _ in runs] == [(EXPORT_SOURCE, "failed")]
    assert "catalogue" in runs[0][2]


def test_an_export_as_one_json_array_loads_like_json_lines(
    tmp_path: Path, small_sources: Path
) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(small_sources, sources)
    lines = sources / "procedures" / "events.jsonl"
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    (sources / "procedures" / "events.json").write_text(json.dumps(records, ensure_ascii=False))
    lines.unlink()
    settings = settings_for(tmp_path / "array", sources)
    with session(settings) as warehouse:
        ingest_reference_exports(settings, warehouse)
        ingest_dossier_exports(settings, warehouse)
        first = ingest_event_exports(settings, warehouse)
        again = ingest_event_exports(settings, warehouse)
        from_array = raw_rows(warehouse)
    clean = settings_for(tmp_path / "lines", small_sources)
    with session(clean) as warehouse:
        ingest_all(clean, warehouse)
        assert raw_rows(warehouse) == from_array
    assert (first.counts.read, first.counts.loaded) == (len(records), len(records))
    assert again.counts.read == 0  # the array is marked done


def reference_hmac(value: str | None) -> str | None:
    """HMAC-SHA256 as the standard library computes it (not our implementation)."""
    if not value:
        return None
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]


def test_personal_data_becomes_the_keyed_hash_and_nothing_else_of_it_is_kept(
    tmp_path: Path, small_sources: Path
) -> None:
    settings = settings_for(tmp_path, small_sources)
    with session(settings) as warehouse:
        ingest_all(settings, warehouse)
        applicants = {
            (code, f"{at:%Y%m%d%H%M%S}"): key
            for code, at, key in warehouse.fetch(
                'select "MaHoSo", "NgayCapNhat", "MaChuHoSoAnDanh" from raw.procedures__dossiers'
            )
        }
        handlers = {
            (code, status, at): key
            for code, status, at, key in warehouse.fetch(
                "select record_key, status, occurred_at, handler_key from raw.procedures__events"
            )
        }
        rows = warehouse.fetch("select * from raw.procedures__dossiers limit 2000")
        stored = " ".join(str(value) for row in rows for value in row)
    exports = small_sources / "procedures"
    dossiers = [json.loads(line) for line in (exports / "dossiers.jsonl").open()]
    events = [json.loads(line) for line in (exports / "events.jsonl").open()]
    assert len(applicants) == len(dossiers) and len(handlers) == len(events)
    for record in dossiers:
        identity = record.get("SoGiayToChuHoSo") or record.get("ChuHoSo")
        assert applicants[record["MaHoSo"], record["NgayCapNhat"]] == reference_hmac(identity)
    for event in events:
        key = (event["MaHoSo"], int(event["TrangThai"]), event["ThoiDiemXuLy"])
        assert handlers[key] == reference_hmac(event.get("NguoiXuLy"))
    # The applicant's name, phone, e-mail and identity number are gone from the raw layer.
    for record in dossiers[:200]:
        for field in ("ChuHoSo", "SoDienThoaiChuHoSo", "EmailChuHoSo", "SoGiayToChuHoSo"):
            assert not record.get(field) or record[field] not in stored


@pytest.mark.parametrize("capacity", [30_000, 0])  # a cache emptied meanwhile, or none
def test_pseudonyms_shared_by_threads_give_each_value_its_keyed_hash(capacity: int) -> None:
    # The checks of consecutive blocks share one.
    pseudonyms = ledger.Pseudonyms(KEY.encode(), capacity=capacity)
    batches = [
        pl.Series("v", [f"{(n * 7_919 + k) % 100_000:012d}" for k in range(20_000)] + [None, ""])
        for n in range(24)
    ]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda batch: pseudonyms.of(batch).to_list(), batches))
    for batch, hashes in zip(batches, results, strict=True):
        assert hashes == ledger.keyed_hashes(KEY.encode(), batch.to_list())
