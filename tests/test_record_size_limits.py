"""A record larger than the settable limit is rejected with its reason, never parsed or loaded:
dossier versions and events (``max_record_bytes``), edXML documents with their attachments
(``max_message_bytes``) and status messages (``max_record_bytes``)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from core.settings import Settings
from core.warehouse import DuckDBWarehouse, session
from ingestion import documents as docs
from ingestion.procedures import EXPORT_SOURCE, ingest_dossier_exports, ingest_reference_exports
from tests.test_ingestion_documents import generate, settings_for

LIMIT = 64 * 1024


def test_settings_have_sane_defaults() -> None:
    settings = Settings()
    assert settings.max_record_bytes == 2**20  # 1 MiB: no dossier comes near it
    assert settings.max_message_bytes > settings.max_record_bytes  # attachments are large


@pytest.mark.slow  # a megabyte dossier through the API: half a minute
def test_a_dossier_over_the_limit_is_rejected_with_its_reason(
    tmp_path: Path, small_sources: Path
) -> None:
    sources = tmp_path / "sources"
    shutil.copytree(small_sources, sources)
    path = sources / "procedures" / "dossiers.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["TenTTHC"] = "x" * LIMIT  # valid JSON, valid in every field: only too large
    huge = json.dumps(record, ensure_ascii=False)
    path.write_text("\n".join([huge, *lines[1:]]) + "\n", encoding="utf-8")
    settings = Settings(home=tmp_path / "home", target="duckdb", procedures_transport="files",
                        procedures_dir=sources / "procedures", pii_hash_key="k",
                        max_record_bytes=LIMIT)  # fmt: skip
    with session(settings) as warehouse:
        ingest_reference_exports(settings, warehouse)
        result = ingest_dossier_exports(settings, warehouse)
        rejected = warehouse.fetch(
            "select record_key, reason from ops.rejected_records where source = ?",
            [EXPORT_SOURCE],
        )
        loaded = warehouse.fetch(
            'select count(*) from raw.procedures__dossiers where length("TenTTHC") > ?', [LIMIT]
        )
    size = len(huge.encode())
    ((key, reason),) = rejected
    assert reason == f"record too large: {size:,} bytes, over the limit of {LIMIT:,} bytes"
    assert key.endswith("dossiers.jsonl:1")  # nothing was parsed: keyed by where it was
    assert loaded == [(0,)]
    assert result.counts.read == len(lines)
    assert (result.counts.loaded + result.counts.duplicate, result.counts.rejected) == (
        len(lines) - 1,
        1,
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("clean"), 0.0)


@pytest.mark.slow  # a day of documents packed with large attachments: about two minutes
def test_documents_and_statuses_over_their_limits_are_rejected(clean: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    (export / "documents").mkdir(parents=True)
    (export / "reference").symlink_to(clean / "reference")
    day = sorted((clean / "documents").iterdir())[3]
    copy = export / "documents" / day.name
    shutil.copytree(day, copy)
    messages_path = copy / docs.FILES[docs.MESSAGES_SOURCE]
    messages = gzip.decompress(messages_path.read_bytes()).split(b"\n")
    # a larger attachment: still a valid message, over the documents' limit
    padding = b"QUJD" * (2 * LIMIT // 4)
    big = messages[0].replace(b"<ContentTransferEncoded>", b"<ContentTransferEncoded>" + padding)
    assert big != messages[0]
    messages_path.write_bytes(gzip.compress(b"\n".join([big, *messages[1:]])))
    status_path = copy / docs.FILES[docs.STATUS_SOURCE]
    statuses = gzip.decompress(status_path.read_bytes()).split(b"\n")
    start = statuses[0].index(b"<edXML:Description>") + len(b"<edXML:Description>")
    huge_status = statuses[0][:start] + b"x" * LIMIT + statuses[0][start:]
    status_path.write_bytes(gzip.compress(b"\n".join([huge_status, *statuses[1:]])))
    settings = settings_for(tmp_path, export).model_copy(
        update={"max_record_bytes": LIMIT, "max_message_bytes": 2 * LIMIT}
    )
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb", province_code="37")
    try:
        results = {r.source: r for r in docs.ingest_documents(settings, warehouse)}
        rejected = dict(
            warehouse.fetch("select source, reason from ops.rejected_records order by source")
        )
    finally:
        warehouse.close()
    assert rejected == {
        docs.MESSAGES_SOURCE: f"record too large: {len(big):,} bytes, over the limit of "
        f"{2 * LIMIT:,} bytes",
        docs.STATUS_SOURCE: f"record too large: {len(huge_status):,} bytes, over the limit of "
        f"{LIMIT:,} bytes",
    }
    assert results[docs.MESSAGES_SOURCE].counts.rejected == 1
    assert results[docs.STATUS_SOURCE].counts.rejected == 1
    assert results[docs.REGISTER_SOURCE].counts.rejected == 0
