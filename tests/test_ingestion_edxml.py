"""edXML as hostile input: a real, hardened XML parser behind the fast grammar.

A message declaring a DTD is refused (an internal entity was once expanded into
``raw.subject``); the fast path and the parser read the same fields from messages laid out
in any way QCVN 102:2016 edXML allows (pretty-printed, another namespace prefix).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from core.warehouse import DuckDBWarehouse
from ingestion import documents as docs
from ingestion.documents import slowpath
from tests.test_ingestion_documents import export_lines, generate, settings_for

ENTITY_TEXT = "INJECTED-BY-ENTITY"


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("clean"), 0.0)


def with_internal_entity(message: bytes) -> bytes:
    declaration, rest = message.split(b"?>", 1)
    start, end = rest.index(b"<edXML:Subject>") + 15, rest.index(b"</edXML:Subject>")
    rest = rest[:start] + b"&injected;" + rest[end:]
    dtd = f'<!DOCTYPE edXML [<!ENTITY injected "{ENTITY_TEXT}">]>'.encode()
    return declaration + b"?>" + dtd + rest


def test_a_message_declaring_entities_is_refused_and_nothing_expanded(
    clean: Path, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    (export / "documents").mkdir(parents=True)
    (export / "reference").symlink_to(clean / "reference")
    day = sorted((clean / "documents").iterdir())[3]  # a working day: documents were sent
    copy = export / "documents" / day.name
    shutil.copytree(day, copy)
    path = copy / docs.FILES[docs.MESSAGES_SOURCE]
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    hostile = with_internal_entity(lines[0])
    document_id = hostile.split(b"<edXML:DocumentId>")[1].split(b"<")[0].decode()
    path.write_bytes(gzip.compress(b"\n".join([hostile, *lines[1:]])))

    assert slowpath.slow_message(hostile) == slowpath.DTD_REFUSED
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    try:
        results = docs.ingest_documents(settings_for(tmp_path, export), warehouse)
        subjects = warehouse.fetch(
            "select count(*) from raw.documents__messages where subject like ?",
            [f"%{ENTITY_TEXT}%"],
        )
        rejected = warehouse.fetch(
            "select record_key, reason from ops.rejected_records where source = ?",
            [docs.MESSAGES_SOURCE],
        )
    finally:
        warehouse.close()
    assert subjects == [(0,)]
    assert rejected == [(document_id, slowpath.DTD_REFUSED)]
    messages = next(r for r in results if r.source == docs.MESSAGES_SOURCE)
    assert messages.counts.rejected == 1
    assert messages.counts.loaded == len([line for line in lines if line.strip()]) - 1


@pytest.mark.parametrize(
    "dtd",
    [
        b'<!DOCTYPE edXML SYSTEM "file:///etc/passwd">',
        b'<!DOCTYPE edXML [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
        b"<!DOCTYPE edXML>",
    ],
)
def test_every_dtd_is_refused(clean: Path, dtd: bytes) -> None:
    _, message = export_lines(clean, docs.MESSAGES_SOURCE)[0]
    declaration, rest = message.split(b"?>", 1)
    assert slowpath.slow_message(declaration + b"?>" + dtd + rest) == slowpath.DTD_REFUSED
    _, status = export_lines(clean, docs.STATUS_SOURCE)[0]
    declaration, rest = status.split(b"?>", 1)
    assert slowpath.slow_status(declaration + b"?>" + dtd + rest) == slowpath.DTD_REFUSED


def test_a_message_without_an_element_qcvn_102_requires_is_rejected_naming_it(
    clean: Path,
) -> None:
    _, message = export_lines(clean, docs.MESSAGES_SOURCE)[0]
    start = message.index(b"<edXML:SignerInfo>")
    end = message.index(b"</edXML:SignerInfo>") + len(b"</edXML:SignerInfo>")
    reason = slowpath.slow_message(message[:start] + message[end:])
    assert reason == (
        "missing required field: MessageHeader/SignerInfo (required by QCVN 102:2016 edXML)"
    )
