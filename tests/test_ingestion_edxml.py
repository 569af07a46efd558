"""edXML as hostile input: a real, hardened XML parser behind the fast grammar.

A message declaring a DTD is refused (an internal entity was once expanded into
``raw.subject``); the fast path and the parser read the same fields from messages laid out
in any way QCVN 102:2016 edXML allows (pretty-printed, another namespace prefix).
"""

from __future__ import annotations

import gzip
import re
import shutil
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

from core.errors import SourceError
from core.warehouse import DuckDBWarehouse
from ingestion import documents as docs
from ingestion.documents import fastpath, slowpath
from ingestion.documents import packages as packages_module
from ingestion.ledger import RunCounts
from ingestion.lines import utf8_column
from simulator.documents import ATTACHMENT_B64
from simulator.edxml_files import Packager, ZipPackages
from tests.test_ingestion_documents import FAULT_RATE, export_lines, generate, settings_for

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
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb", province_code="37")
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


# -- the exchange's container: a file per message, in a daily zip or folder -------------------

RAW = ("raw.documents__register", "raw.documents__messages", "raw.documents__receivers",
       "raw.documents__status")  # fmt: skip


@dataclass
class Load:
    results: dict[str, RunCounts]
    raw: dict[str, list[tuple[object, ...]]]
    rejected: list[tuple[str, str, str]]  # source, record key, reason


def load(export: Path, home: Path) -> Load:
    home.mkdir(parents=True, exist_ok=True)
    warehouse = DuckDBWarehouse(home / "warehouse.duckdb", province_code="37")
    try:
        results = docs.ingest_documents(settings_for(home, export), warehouse)
        raw = {}
        for table in RAW:
            columns = [c for (c,) in warehouse.fetch(
                "select column_name from information_schema.columns where table_schema = 'raw' "
                "and table_name = ? and column_name not like '\\_%' escape '\\' "
                "order by ordinal_position", [table.split(".")[1]])]  # fmt: skip
            names = ", ".join(f'"{c}"' for c in columns)
            raw[table] = warehouse.fetch(f"select {names} from {table} order by all")
        rejected = warehouse.fetch(
            "select source, record_key, reason from ops.rejected_records order by all"
        )
    finally:
        warehouse.close()
    return Load({r.source: r.counts for r in results}, raw, rejected)


@pytest.fixture(scope="module")
def faulty_forms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {
        container: generate(tmp_path_factory.mktemp(container), FAULT_RATE, container)
        for container in ("zip", "lines")
    }


def without_position(reason: str) -> str:
    """A reason without where in the message it arose (lines differ once pretty-printed)."""
    reason = re.sub(r"\(?[^()]*line \d+, column \d+\)?", "", reason)
    return re.sub(r" line \d+ ", " ", reason).strip()


def test_the_zip_of_packages_loads_what_the_lines_load(
    faulty_forms: dict[str, Path], tmp_path: Path
) -> None:
    zipped = load(faulty_forms["zip"], tmp_path / "zip")
    lines = load(faulty_forms["lines"], tmp_path / "lines")
    assert zipped.results == lines.results
    assert zipped.raw == lines.raw
    assert all(zipped.raw.values())

    def comparable(load: Load) -> list[tuple[str, str, str]]:
        out = []
        for source, key, reason in load.rejected:
            if re.match(r"^.*\.(zip|gz):", key):  # nothing identified it: where it was
                key = key.split("/", 2)[1]  # the day
            out.append((source, key, without_position(reason)))
        return sorted(out)

    assert comparable(zipped) == comparable(lines)
    # a record nothing identifies is named by its archive and entry
    located = [k for _, k, _ in zipped.rejected if ".zip:" in k]
    assert all(re.search(r"/date=[\d-]+/(documents|status)\.edxml\.zip:\d{6}\.edxml$", k)
               for k in located)  # fmt: skip


def test_the_simulator_writes_packages_by_default_pretty_printed_and_reproducible(
    faulty_forms: dict[str, Path], tmp_path: Path
) -> None:
    day = sorted((faulty_forms["zip"] / "documents").iterdir())[3]
    assert sorted(p.name for p in day.iterdir()) == [
        "documents.edxml.zip", "register.csv.gz", "status.edxml.zip"]  # fmt: skip
    with zipfile.ZipFile(day / "documents.edxml.zip") as archive:
        assert archive.testzip() is None
        entries = [archive.read(info) for info in archive.infolist()]
    lines_day = faulty_forms["lines"] / "documents" / day.name
    lines = gzip.decompress((lines_day / docs.FILES[docs.MESSAGES_SOURCE]).read_bytes())
    assert len(entries) == len(lines.splitlines())  # one entry per message
    # pretty-printed, all but the few a fault cut short or flattened
    assert sum(entry.count(b"\n") > 40 for entry in entries) >= 0.9 * len(entries)
    assert any(b"<edXML:MessageHeader>" in e for e in entries)
    assert any(b"<MessageHeader>" in e for e in entries)  # the namespace as the default one
    assert all(b"<ContentTransferEncoded>\r\n" in e for e in entries if b"<Attachment>" in e)
    again = generate(tmp_path / "again", FAULT_RATE, "zip")
    for path in sorted((faulty_forms["zip"] / "documents").rglob("*.zip"))[:6]:
        copy = again / path.relative_to(faulty_forms["zip"])
        assert copy.read_bytes() == path.read_bytes()  # same seed, same bytes


def test_a_folder_of_edxml_files_loads_like_the_zip(clean: Path, tmp_path: Path) -> None:
    zipped = generate(tmp_path / "zip", 0.0, "zip")
    folder = generate(tmp_path / "folder", 0.0, "folder")
    day = sorted((folder / "documents").iterdir())[3]
    assert (day / "documents").is_dir() and (day / "documents" / "000001.edxml").exists()
    from_zip, from_folder = load(zipped, tmp_path / "a"), load(folder, tmp_path / "b")
    assert from_folder.raw == from_zip.raw
    assert from_folder.results == from_zip.results
    assert from_zip.raw == load(clean, tmp_path / "c").raw  # and like the lines


def test_one_pretty_printed_message_is_one_record_read_by_either_path(clean: Path) -> None:
    """The grammar takes a pretty-printed message as it came (blanks between tags), with the
    edXML: prefix or the namespace as the default one; one with another prefix goes to the
    parser; both read what the canonical line reads."""
    packager = Packager(1, ATTACHMENT_B64)
    for source, package, parse in (
        (docs.MESSAGES_SOURCE, packager.document, slowpath.slow_message),
        (docs.STATUS_SOURCE, packager.status, slowpath.slow_status),
    ):
        lines = [line for _, line in export_lines(clean, source)][:200]
        packages = [package(line) for line in lines]
        prefixed = [b"<edXML:" in p for p in packages]
        assert 0 < sum(prefixed) < len(packages)  # both forms
        other = {i: p.replace(b"edXML:", b"ns0:").replace(b"xmlns:edXML=", b"xmlns:ns0=")
                 for i, p in enumerate(packages) if prefixed[i]}  # fmt: skip
        texts, _ = utf8_column(pa.array(packages + list(other.values()), pa.large_binary()))
        fast = fastpath.fast_extract(pl.Series(texts), source)
        assert fast["_i"].to_list() == list(range(len(packages)))  # not the other prefix
        canonical = fastpath.fast_extract(pl.Series(utf8_column(pa.array(lines))[0]), source)
        by_index = {row["_i"]: row for row in canonical.to_dicts()}
        for row in fast.to_dicts():
            assert row == by_index[row["_i"]]
        for index, message in [*enumerate(packages), *other.items()]:
            fields = parse(message)
            assert isinstance(fields, dict), fields
            assert fields == parse(lines[index])


def test_a_cut_archive_fails_its_day_and_a_broken_entry_is_one_rejection(
    tmp_path: Path,
) -> None:
    zipped = generate(tmp_path / "zip", 0.0, "zip")
    days = sorted((zipped / "documents").iterdir())
    # a corrupt entry: its stored bytes changed, so its CRC no longer matches
    archive = days[3] / "status.edxml.zip"
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as reader:
        info = reader.infolist()[0]
    start = info.header_offset + 30 + len(info.filename.encode()) + 10
    data[start : start + 4] = bytes(b ^ 0xFF for b in data[start : start + 4])
    archive.write_bytes(bytes(data))
    # a cut archive, a day later: the run stops there, the days before stay loaded
    cut = days[4] / "documents.edxml.zip"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb", province_code="37")
    try:
        with pytest.raises(SourceError, match=r"documents\.edxml\.zip is not a complete zip"):
            docs.ingest_documents(settings_for(tmp_path, zipped), warehouse)
        rejected = warehouse.fetch("select record_key, reason from ops.rejected_records")
        runs = set(warehouse.fetch("select status, watermark_to from ops.ingest_runs"))
    finally:
        warehouse.close()
    ((key, reason),) = rejected
    assert key.endswith(f"{days[3].name}/status.edxml.zip:{info.filename}")
    assert reason.startswith(f"unreadable zip entry {info.filename}: ")
    assert runs == {("failed", days[3].name.removeprefix("date="))}


def test_a_day_of_more_than_65535_messages_gets_a_zip64_archive(tmp_path: Path) -> None:
    path = tmp_path / "status.edxml.zip"
    writer = ZipPackages(path, date(2025, 7, 1), lambda line: line + b"\n")
    count = 70_000
    writer.write(b"".join(b"<m>%d</m>\n" % n for n in range(count)))
    writer.close()
    with zipfile.ZipFile(path) as archive:
        assert len(archive.infolist()) == count
        assert archive.read("070000.edxml") == b"<m>69999</m>\n"
    block, problems = packages_module.read_packages(path, "status.edxml.zip")
    assert (len(block), problems) == (count, {})
    assert block.line(count - 1) == b"<m>69999</m>"
    assert block.location(0) == "status.edxml.zip:000001.edxml"


def test_a_file_in_the_archive_that_is_no_message_is_rejected_not_skipped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "documents.edxml.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("000001.edxml", b"<a/>")
        archive.writestr("notes/", b"")
        archive.writestr("notes/readme.txt", b"hello")
        archive.writestr("000002.XML", b"<b/>")
    block, problems = packages_module.read_packages(path, "documents.edxml.zip")
    assert block.names == ("000001.edxml", "notes/readme.txt", "000002.XML")
    assert problems == {1: "not an edXML message file: notes/readme.txt (a message is a .edxml "
                           "or .xml file)"}  # fmt: skip
