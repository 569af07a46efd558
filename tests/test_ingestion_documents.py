"""The document-system connector: every fault caught, every good record loaded, resumable.

The exports are small (scale 0.01) and cross the 1 July 2025 merger, where agency codes were
reused. What "good records" are is read from the export itself, by a plain reference parser
(regular expressions and :mod:`csv`), minus the records the fault manifests list: the
simulator's fault injection draws from the generator's own random stream too, so a clean
export made with the same seed is not the faulty export without its faults. A clean export is
still loaded, to show that nothing good is ever rejected.
"""

from __future__ import annotations

import csv
import functools
import gzip
import json
import random
import re
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import PG_ADMIN_URL, require_postgres

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import DuckDBWarehouse, PostgresWarehouse, Warehouse
from ingestion import documents as docs
from ingestion import landing
from ingestion.documents import checking, fastpath, grammar, loading, reading, register, slowpath
from ingestion.ledger import IngestResult
from ingestion.lines import utf8_column
from simulator.agencies import build_agencies
from simulator.documents import write_document_system
from simulator.edxml_files import pretty
from simulator.generate import write_agencies, write_system
from simulator.units import load_region

WINDOW = (date(2025, 6, 20), date(2025, 7, 10))  # crosses the merger
SCALE, SEED, FAULT_RATE = 0.01, 11, 0.05
TABLES = {
    "register": docs.REGISTER_TABLE,
    "messages": docs.MESSAGES_TABLE,
    "receivers": docs.RECEIVERS_TABLE,
    "status": docs.STATUS_TABLE,
}
# The words a rejection's reason must contain for each kind of injected fault.
FITTING_REASON = {
    "broken_xml": "malformed XML",
    "truncated_xml": "truncated XML",
    "wrong_encoding": "not valid UTF-8",
    "missing_field": "missing required field",
    "impossible_date": "not a valid date",
    "malformed_date": "not in the expected format",
    "unknown_unit": "not in the agency directory",
    "out_of_order_event": "out of order",
    "absurd_value": "absurd value",
}


def generate(out: Path, fault_rate: float, container: str = "lines") -> Path:
    """The line-packed form, whose lines the reference reading below reads; the package forms
    load the same rows (tests/test_ingestion_edxml.py)."""
    write_agencies(out, build_agencies(load_region("37")))
    writer = functools.partial(write_document_system, container=container)
    write_system(writer, out, SEED, SCALE, *WINDOW, fault_rate)
    return out


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("faulty"), FAULT_RATE)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("clean"), 0.0)


def settings_for(home: Path, export: Path, pg_url: str | None = None) -> Settings:
    return Settings(
        home=home,
        documents_dir=export / "documents",
        pii_hash_key="test-pii-key",
        target="postgres" if pg_url else "duckdb",
        pg_url=pg_url or "postgresql://unused@127.0.0.1:5432/unused",
    )


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this module's shared loads."""
    require_postgres()
    name = f"govdata_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'create database "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'drop database if exists "{name}" with (force)')


def open_warehouse(home: Path, pg_url: str | None) -> Warehouse:
    return (
        PostgresWarehouse(pg_url, province_code="37")
        if pg_url
        else DuckDBWarehouse(home / "warehouse.duckdb", province_code="37")
    )


# -- what a load left behind --------------------------------------------------------------------


@dataclass
class Loaded:
    results: list[IngestResult]
    raw: dict[str, list[tuple[Any, ...]]]  # table → rows (without _run_id/_loaded_at), sorted
    rejected: list[tuple[str, str | None, str, str]]  # source, record_key, reason, payload
    runs: list[tuple[Any, ...]]
    home: Path


def snapshot(warehouse: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    raw = {}
    for name, table in TABLES.items():
        columns = ", ".join(f'"{f.name}"' for f in table.schema)
        order = ", ".join(f'"{c}"' for c in table.key)
        raw[name] = warehouse.fetch(f"select {columns} from {table.name} order by {order}")
    return raw


def load(export: Path, home: Path, pg_url: str | None = None) -> Loaded:
    settings = settings_for(home, export, pg_url)
    warehouse = open_warehouse(home, pg_url)
    try:
        results = docs.ingest_documents(settings, warehouse)
        return Loaded(
            results,
            snapshot(warehouse),
            warehouse.fetch(
                "select source, record_key, reason, payload from ops.rejected_records "
                "order by source, record_key, reason, payload"
            ),
            warehouse.fetch(
                "select source, status, rows_read, rows_loaded, rows_rejected, rows_duplicate, "
                "watermark_from, watermark_to from ops.ingest_runs order by source"
            ),
            home,
        )
    finally:
        warehouse.close()


@pytest.fixture(scope="module")
def loads(
    faulty: Path, pg_database: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Loaded]:
    return {
        "duckdb": load(faulty, tmp_path_factory.mktemp("duckdb")),
        "postgres": load(faulty, tmp_path_factory.mktemp("postgres"), pg_database),
    }


# -- the reference reading of an export ---------------------------------------------------------


def export_lines(export: Path, source: str) -> list[tuple[str, bytes]]:
    """(file relative to the export, line) of every non-blank record line of a source."""
    out = []
    for path in sorted((export / "documents").glob(f"date=*/{docs.FILES[source]}")):
        lines = gzip.decompress(path.read_bytes()).split(b"\n")
        if source == docs.REGISTER_SOURCE:
            lines = lines[1:]
        relative = f"documents/{path.parent.name}/{path.name}"
        out += [(relative, line) for line in lines if line.strip()]
    return out


def element(line: bytes, path: str) -> str | None:
    match = re.search(re.escape(f"<edXML:{path}>").encode() + rb"([^<]*)<", line)
    return match.group(1).decode("utf-8", "replace") if match else None


def record_keys(export: Path, source: str) -> list[str]:
    """The key of each record line, as the fault manifests write it ('' parts when absent)."""
    keys = []
    for _, line in export_lines(export, source):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:  # a line in another encoding: a fault, whatever its key
            keys.append("")
            continue
        if source == docs.MESSAGES_SOURCE:
            keys.append(element(line, "DocumentId") or "")
        elif source == docs.STATUS_SOURCE:
            parts = (element(line, "DocumentId"), element(line, "From><edXML:OrganId"),
                     element(line, "StatusCode"))  # fmt: skip
            keys.append("|".join(p or "" for p in parts))
        else:
            row = next(csv.reader([line.decode("utf-8", "replace")]))
            keys.append(row[0])
    return keys


def manifest(export: Path, source: str) -> list[dict[str, Any]]:
    path = export / "faults" / f"{source}.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def expected_keys(export: Path, source: str) -> set[str]:
    """Keys of the good records: every record read, less the ones a fault spoiled.

    A spoiled line keeps the manifest's key, or shows it lost: a part of the key is missing
    (truncated line, missing field) or the receiver is no agency at all (unknown unit).
    """
    spoiled = {f["record_key"] for f in manifest(export, source) if f["kind"] != "duplicate"}
    with (export / "reference" / "agencies.csv").open(encoding="utf-8") as handle:
        agencies = {row["MaDinhDanh"] for row in csv.DictReader(handle)}
    keys = set()
    for key in record_keys(export, source):
        parts = key.split("|")
        if key in spoiled or not all(parts):
            continue
        if source == docs.STATUS_SOURCE and parts[1] not in agencies:
            continue
        keys.add(key)
    return keys


def loaded_keys(loaded: Loaded, source: str) -> set[str]:
    if source == docs.STATUS_SOURCE:
        return {f"{r[0]}|{r[3]}|{r[4]}" for r in loaded.raw["status"]}
    table = "messages" if source == docs.MESSAGES_SOURCE else "register"
    return {r[0] for r in loaded.raw[table]}


# -- faults -------------------------------------------------------------------------------------


def match_faults(export: Path, loaded: Loaded, source: str) -> None:
    """Pair every injected fault with a rejected record of fitting reason, and vice versa."""
    faults = [f for f in manifest(export, source) if f["kind"] != "duplicate"]
    rejected = [r for r in loaded.rejected if r[0] == source]
    assert len(rejected) == len(faults), Counter(r[2].split(":")[0] for r in rejected)

    def fits(fault: dict[str, Any], rejection: tuple[str, str | None, str, str]) -> bool:
        return FITTING_REASON[fault["kind"]] in rejection[2]

    def same_record(fault: dict[str, Any], key: str) -> bool:
        if key == fault["record_key"]:
            return True
        if source != docs.STATUS_SOURCE or "|" not in key:
            return False
        # a status whose From (the receiver) or code is gone: the parts that are there agree;
        # one whose receiver was replaced by an unknown code is keyed with that code
        mine, theirs = key.split("|"), fault["record_key"].split("|")
        if fault["kind"] == "unknown_unit" and fault["detail"].endswith(f" {mine[1]}"):
            mine[1] = theirs[1]
        return mine[0] == theirs[0] and all(m in ("", t) for m, t in zip(mine, theirs, strict=True))

    def located(fault: dict[str, Any], key: str) -> bool:
        return key.startswith(f"{fault['file']}:")  # nothing identified the record

    remaining = list(rejected)
    for rule in (lambda f, k: k == f["record_key"], same_record, located):
        for fault in list(faults):
            for rejection in remaining:
                if rejection[1] and rule(fault, rejection[1]) and fits(fault, rejection):
                    remaining.remove(rejection)
                    faults.remove(fault)
                    break
    assert not faults, f"{source}: faults not rejected with a fitting reason: {faults[:5]}"
    assert not remaining, f"{source}: records rejected for no injected fault: {remaining[:5]}"


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
@pytest.mark.parametrize("source", docs.SOURCES)
def test_every_fault_is_rejected_with_a_fitting_reason(
    faulty: Path, loads: dict[str, Loaded], backend: str, source: str
) -> None:
    loaded = loads[backend]
    kinds = Counter(f["kind"] for f in manifest(faulty, source))
    assert len(kinds) >= 5, kinds  # the window is long enough to draw most kinds
    match_faults(faulty, loaded, source)
    result = next(r for r in loaded.results if r.source == source)
    assert result.counts.duplicate == kinds["duplicate"]
    assert result.counts.read == len(export_lines(faulty, source))
    assert result.counts.rejected == sum(n for k, n in kinds.items() if k != "duplicate")


@pytest.mark.parametrize("backend", ["duckdb", "postgres"])
@pytest.mark.parametrize("source", docs.SOURCES)
def test_every_good_record_is_loaded(
    faulty: Path, loads: dict[str, Loaded], backend: str, source: str
) -> None:
    assert loaded_keys(loads[backend], source) == expected_keys(faulty, source)


def test_counts_reconcile_for_every_run(loads: dict[str, Loaded]) -> None:
    for loaded in loads.values():
        assert len(loaded.runs) == 3
        for source, status, read, done, rejected, duplicate, start, end in loaded.runs:
            assert status == "success"
            assert read == done + rejected + duplicate > 0, source
            assert (start, end) == (None, f"{WINDOW[1]:%Y-%m-%d}")
        for result in loaded.results:
            assert result.counts.reconciles and result.status == "success"


def test_duckdb_and_postgres_hold_the_same_rows(loads: dict[str, Loaded]) -> None:
    duck, pg = loads["duckdb"], loads["postgres"]
    for name in TABLES:
        assert duck.raw[name] == pg.raw[name], name
        assert duck.raw[name]
    assert duck.rejected == pg.rejected
    assert [r.counts for r in duck.results] == [r.counts for r in pg.results]


def test_loaded_values_match_the_messages(faulty: Path, loads: dict[str, Loaded]) -> None:
    """Spot the typed values against the XML itself, read with ElementTree."""
    e = "{http://www.mic.gov.vn/TBT/QCVN_102_2016}"
    loaded = loads["duckdb"]
    messages = {r[0]: r for r in loaded.raw["messages"]}
    receivers: dict[str, list[tuple[int, str]]] = {}
    for document_id, receiver, position, *_ in loaded.raw["receivers"]:
        receivers.setdefault(document_id, []).append((position, receiver))
    columns = [f.name for f in docs.MESSAGES_TABLE.schema]
    checked = set()
    for _, line in export_lines(faulty, docs.MESSAGES_SOURCE):
        header_id = element(line, "DocumentId")
        if header_id not in messages:
            continue
        row = dict(zip(columns, messages[header_id], strict=True))
        root = ET.fromstring(line)
        header = root.find(f"{e}edXMLEnvelope/{e}edXMLHeader/{e}MessageHeader")
        assert row["sender_code"] == header.findtext(f"{e}From/{e}OrganId")
        tos = [t.findtext(f"{e}OrganId") for t in header.findall(f"{e}To")]
        assert [code for _, code in sorted(receivers[header_id])] == tos
        assert row["receiver_count"] == len(tos)
        assert row["subject"] == header.findtext(f"{e}Subject")
        assert row["page_amount"] == int(header.findtext(f"{e}OtherInfo/{e}PageAmount"))
        assert (
            row["promulgation_date"]
            == datetime.strptime(
                header.findtext(f"{e}PromulgationInfo/{e}PromulgationDate"), "%Y/%m/%d"
            ).date()
        )
        stamp = root.findtext(f"{e}edXMLEnvelope/{e}edXMLHeader/{e}TraceHeaderList/"
                              f"{e}TraceHeader/{e}Timestamp")  # fmt: skip
        assert row["sent_at"] == datetime.strptime(stamp, "%Y/%m/%d %H:%M:%S")
        signed = root.find(f"{e}edXMLEnvelope/{e}edXMLHeader/"
                           "{http://www.w3.org/2000/09/xmldsig#}Signature")  # fmt: skip
        assert row["is_signed"] == (signed is not None)
        assert row["attachment_count"] == 1
        assert re.fullmatch(r"[0-9a-f]{32}", row["signer_key"])
        checked.add(header_id)
    assert len(checked) == len(messages) > 100


def test_a_clean_export_is_loaded_whole(clean: Path, tmp_path: Path) -> None:
    loaded = load(clean, tmp_path)
    assert loaded.rejected == []
    assert not (clean / "faults").exists()
    for result in loaded.results:
        lines = len(export_lines(clean, result.source))
        assert (result.counts.read, result.counts.loaded) == (lines, lines)
        assert result.counts.duplicate == result.counts.rejected == 0
    for source in docs.SOURCES:
        assert loaded_keys(loaded, source) == expected_keys(clean, source)
    # the merger: pre-merger agencies before 1 July, new ones after, codes reused
    senders = pl.DataFrame(
        [(r[3], r[8]) for r in loaded.raw["register"]], schema=["code", "day"], orient="row"
    )
    before = set(senders.filter(pl.col("day") < date(2025, 7, 1))["code"])
    after = set(senders.filter(pl.col("day") >= date(2025, 7, 1))["code"])
    assert before and after and before & after  # codes named other agencies after the merger


# -- state, re-runs and resume ------------------------------------------------------------------


def test_rerun_changes_nothing(faulty: Path, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, faulty)
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb", province_code="37")
    try:
        first = docs.ingest_documents(settings, warehouse)
        before = snapshot(warehouse)
        again = docs.ingest_documents(settings, warehouse)  # nothing after the watermark
        assert all(r.counts.read == 0 and r.status == "success" for r in again)
        assert snapshot(warehouse) == before
        # the same window once more, as if the state were lost: all found again
        warehouse.execute("delete from ops.source_state")
        warehouse.execute("delete from ops.loaded_batches")
        replay = docs.ingest_documents(settings, warehouse)
        assert snapshot(warehouse) == before
        for old, new in zip(first, replay, strict=True):
            assert new.counts.loaded == 0
            assert new.counts.read == old.counts.read
            assert new.counts.duplicate == old.counts.loaded + old.counts.duplicate
    finally:
        warehouse.close()


def test_a_killed_run_resumes_at_the_next_day(
    faulty: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path / "killed", faulty)
    warehouse = DuckDBWarehouse(tmp_path / "killed.duckdb", province_code="37")
    real_land = landing.land

    def land_then_die(*args: Any, **kwargs: Any) -> Path:
        if args[3] > 0:  # days are read ahead in parallel: die on any day after the first
            raise KeyboardInterrupt("killed")
        return real_land(*args, **kwargs)

    try:
        monkeypatch.setattr(landing, "land", land_then_die)
        with pytest.raises(KeyboardInterrupt):
            docs.ingest_documents(settings, warehouse)
        monkeypatch.setattr(landing, "land", real_land)
        runs = warehouse.fetch("select status, watermark_to from ops.ingest_runs")
        assert set(runs) == {("failed", f"{WINDOW[0]:%Y-%m-%d}")}
        assert {w for (w,) in warehouse.fetch("select watermark from ops.source_state")} == {
            f"{WINDOW[0]:%Y-%m-%d}"
        }
        resumed = docs.ingest_documents(settings, warehouse)
        assert all(r.watermark_from == f"{WINDOW[0]:%Y-%m-%d}" for r in resumed)
        resumed_rows = snapshot(warehouse)
        totals = warehouse.fetch(
            "select source, sum(rows_loaded), sum(rows_rejected), sum(rows_duplicate) "
            "from ops.ingest_runs group by source order by source"
        )
        rejected = warehouse.fetch(
            "select source, record_key, reason from ops.rejected_records order by all"
        )
    finally:
        warehouse.close()
    single = load(faulty, tmp_path / "single")
    assert resumed_rows == single.raw
    assert totals == [(s, loaded, rejected, duplicate)
                      for s, _, _, loaded, rejected, duplicate, _, _ in single.runs]  # fmt: skip
    assert rejected == sorted((s, k, r) for s, k, r, _ in single.rejected)


def test_landing_keeps_the_lines_as_read(faulty: Path, loads: dict[str, Loaded]) -> None:
    home = loads["duckdb"].home
    for source in docs.SOURCES:
        files = sorted((home / "landing" / f"source={source}").glob("load_date=*/*.parquet"))
        table = pa.concat_tables(pq.read_table(f) for f in files)
        landed = sorted(zip(table["origin"].to_pylist(), table["payload"].to_pylist(),
                            strict=True))  # fmt: skip
        assert landed == sorted(export_lines(faulty, source))


# -- personal data ------------------------------------------------------------------------------


def test_no_personal_data_reaches_the_raw_tables(faulty: Path, loads: dict[str, Loaded]) -> None:
    personal: set[str] = set()
    for _, line in export_lines(faulty, docs.MESSAGES_SOURCE) + export_lines(
        faulty, docs.STATUS_SOURCE
    ):
        for tag in ("FullName", "Staff", "Email", "Telephone"):
            value = element(line, tag)
            if value:
                personal.add(value)
    assert len(personal) > 50
    for loaded in loads.values():
        cells = "\n".join(
            str(value) for rows in loaded.raw.values() for row in rows for value in row
        )
        leaked = [value for value in personal if value in cells]
        assert not leaked, leaked[:5]


# -- the fast path is safe ----------------------------------------------------------------------


def fields_both_ways(lines: list[bytes], source: str) -> tuple[pl.DataFrame, list[Any]]:
    texts, _ = utf8_column(pa.array(lines, pa.binary()))
    fast = fastpath.fast_extract(pl.Series(texts), source)
    slow_path = slowpath.slow_message if source == docs.MESSAGES_SOURCE else slowpath.slow_status
    return fast, [slow_path(line) for line in lines]


def normalised(frame: pl.DataFrame, source: str) -> list[dict[str, Any]]:
    names = grammar.MESSAGE_TAGS if source == docs.MESSAGES_SOURCE else grammar.STATUS_FIELDS
    frame = checking._clean_text(frame, names)
    if "receivers" in frame.columns:
        frame = frame.with_columns(pl.col("receivers").list.eval(checking._clean(pl.element())))
    return frame.to_dicts()


def as_fast(fields: dict[str, Any]) -> dict[str, Any]:
    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return value.strip() or None
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    # ResponseFor/Code only serves to rebuild a missing DocumentId: the fast path skips it
    return {k: None if k == "code" else clean(v) for k, v in fields.items()}


@pytest.mark.parametrize("source", [docs.MESSAGES_SOURCE, docs.STATUS_SOURCE])
def test_fast_and_slow_paths_read_the_same_fields(faulty: Path, source: str) -> None:
    lines = [line for _, line in export_lines(faulty, source)]
    lines += [default_namespace(line) for line in lines[:500]]  # the other form of the namespace
    fast, slow = fields_both_ways(lines, source)
    assert fast.height > 0.9 * len(lines)  # nearly every line takes the fast path
    for row in normalised(fast, source):
        index = row.pop("_i")
        assert isinstance(slow[index], dict), slow[index]
        assert row == as_fast(slow[index])


def default_namespace(line: bytes) -> bytes:
    """The message with the edXML namespace as the default one (as some systems write it)."""
    line = line.replace(b' xmlns:edXML="', b' xmlns="')
    return line.replace(b"<edXML:", b"<").replace(b"</edXML:", b"</")


@pytest.mark.parametrize("source", [docs.MESSAGES_SOURCE, docs.STATUS_SOURCE])
def test_the_grammar_accepts_no_line_a_parser_rejects(clean: Path, source: str) -> None:
    """Mutate good lines at random: whatever the grammar still accepts must parse the same."""
    rng = random.Random(5)
    originals = [line for _, line in export_lines(clean, source)][:300]
    originals += [default_namespace(line) for line in originals[:100]]
    originals += [pretty(line) for line in originals[200:400:2]]  # both forms, pretty-printed
    mutants = []
    for line in originals:
        for _ in range(8):
            text = line.decode()
            cut = rng.randrange(1, len(text))
            kind = rng.randrange(7)
            if kind == 6:  # characters XML or the grammar treat specially
                odd = rng.choice(["\ufffe", "\uffff", "\t", "\x7f", "\x00", "&amp;", "&nbsp;",
                                  "\ufeff", "\U0001f600", "\r"])  # fmt: skip
                text = text[:cut] + odd + text[cut:]
            elif kind == 0:
                text = text[:cut]  # truncated
            elif kind == 1:
                text = text[:cut] + text[cut + 1 :]  # a character lost
            elif kind == 2:
                text = text[:cut] + rng.choice("<>&\"'/= \x01") + text[cut:]
            elif kind == 3:  # a tag removed
                tags = list(re.finditer(r"<[^>]*>", text))
                tag = rng.choice(tags)
                text = text[: tag.start()] + text[tag.end() :]
            elif kind == 4:  # two tags swapped
                a, b = sorted(rng.sample(list(re.finditer(r"<[^>]*>", text)), 2),
                              key=lambda m: m.start())  # fmt: skip
                text = (text[: a.start()] + b.group() + text[a.end() : b.start()] + a.group()
                        + text[b.end() :])  # fmt: skip
            else:  # a closing tag renamed
                closing = list(re.finditer(r"</[A-Za-z:]+>", text))
                tag = rng.choice(closing)
                text = text[: tag.start()] + tag.group()[:-2] + "x>" + text[tag.end() :]
            mutants.append(text.encode())
    fast, slow = fields_both_ways(mutants, source)
    accepted = normalised(fast, source)
    assert len(accepted) < len(mutants)
    # The compiled grammar accepts exactly the lines the regex accepts.
    both = originals + mutants
    texts, bad = utf8_column(pa.array(both, pa.large_binary()))
    verdicts = fastpath.accepted_lines(pa.array(both, pa.large_binary()), bad, source)
    assert verdicts is not None, "the compiled grammar did not build (is re2c installed?)"
    by_regex = pl.Series(texts).str.contains(
        grammar.DOCUMENT_GRAMMAR if source == docs.MESSAGES_SOURCE else grammar.STATUS_GRAMMAR
    )
    assert verdicts.tolist() == by_regex.fill_null(False).to_list()
    assert verdicts[: len(originals)].all()
    for row in accepted:
        index = row.pop("_i")
        parsed = slow[index]
        assert isinstance(parsed, dict), (parsed, mutants[index])
        assert row == as_fast(parsed)


# -- rules --------------------------------------------------------------------------------------


def test_agency_codes_must_be_in_force_on_the_records_date(faulty: Path) -> None:
    directory = docs.AgencyDirectory.read(faulty / "reference" / "agencies.csv")
    agencies = build_agencies(load_region("37"))
    old_only = next(a.code for a in agencies if a.valid_to and a.code not in
                    {b.code for b in agencies if b.valid_from})  # fmt: skip
    reused = next(a.code for a in agencies if a.valid_from and a.code in
                  {b.code for b in agencies if b.valid_to})  # fmt: skip
    codes = pl.DataFrame(
        {
            "_i": [0, 1, 2, 3, 4],
            "_k": [0, 0, 0, 0, 0],
            "code": [old_only, old_only, reused, reused, "000.99.99.H99"],
            "day": [date(2025, 6, 30), date(2025, 7, 1), date(2025, 6, 30), date(2025, 7, 1),
                    date(2025, 7, 1)],
        }
    )  # fmt: skip
    problems = dict(directory.problems(codes, "From OrganId").iter_rows())
    assert set(problems) == {1, 4}
    assert problems[1] == f"From OrganId {old_only}: agency code not in force on 2025-07-01"
    assert "not in the agency directory" in problems[4]


def test_a_status_before_an_earlier_stage_is_out_of_order() -> None:
    def stamp(text: str) -> datetime:
        return datetime.strptime(text, "%Y/%m/%d %H:%M:%S")

    schema = {"_i": pl.Int64, "document_id": pl.String, "receiver_code": pl.String,
              "status_code": pl.String, "status_at": pl.Datetime("us")}  # fmt: skip
    rows = pl.DataFrame(
        [
            (0, "D", "R1", "01", stamp("2025/07/01 10:00:00")),
            (1, "D", "R1", "06", stamp("2025/07/01 09:00:00")),  # before its own 01
            (2, "D", "R2", "01", stamp("2025/07/01 10:00:00")),
            (3, "D", "R2", "03", stamp("2025/07/01 11:00:00")),
            (4, "E", "R1", "05", stamp("2025/07/02 08:00:00")),  # before a 04 already loaded
            (5, "E", "R2", "13", stamp("2025/07/02 08:00:00")),  # a recall has no stage
        ],
        schema=schema,
        orient="row",
    )
    history = pl.DataFrame(
        [("E", "R1", "04", stamp("2025/07/02 09:00:00")),
         ("E", "R2", "06", stamp("2025/07/02 09:00:00"))],
        schema={k: v for k, v in schema.items() if k != "_i"}, orient="row",
    )  # fmt: skip
    late = dict(loading.out_of_order(rows, history).iter_rows())
    assert set(late) == {1, 4}
    assert "status 06 at 2025/07/01 09:00:00" in late[1] and "earlier status 01" in late[1]


def test_an_unfinished_batch_is_left_for_the_next_run(clean: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    (export / "documents").mkdir(parents=True)
    (export / "reference").symlink_to(clean / "reference")
    days = sorted((clean / "documents").iterdir())[:3]
    for day in days:
        (export / "documents" / day.name).symlink_to(day)
    unfinished = export / "documents" / f"date={WINDOW[0].replace(day=23):%Y-%m-%d}"
    unfinished.mkdir()
    (unfinished / docs.FILES[docs.REGISTER_SOURCE]).write_bytes(
        gzip.compress(b",".join(c.encode() for c in register.REGISTER_COLUMNS) + b"\n")
    )
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb", province_code="37")
    try:
        results = docs.ingest_documents(settings_for(tmp_path, export), warehouse)
        messages = {m for (m,) in warehouse.fetch("select message from ops.ingest_runs")}
    finally:
        warehouse.close()
    assert {r.watermark_to for r in results} == {days[-1].name.removeprefix("date=")}
    assert messages == {
        f"stopped before {unfinished.name}: no documents.edxml.zip, documents/ or "
        "documents.edxml.lines.gz; no status.edxml.zip, status/ or status.edxml.lines.gz yet"
    }


def test_a_corrupt_gzip_fails_the_run_and_keeps_the_days_before(
    clean: Path, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    (export / "documents").mkdir(parents=True)
    (export / "reference").symlink_to(clean / "reference")
    days = sorted((clean / "documents").iterdir())[:2]
    (export / "documents" / days[0].name).symlink_to(days[0])
    broken = export / "documents" / days[1].name
    broken.mkdir()
    for name in docs.FILES.values():
        data = (days[1] / name).read_bytes()
        (broken / name).write_bytes(data[: len(data) // 2] if "status" in name else data)
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb", province_code="37")
    try:
        with pytest.raises(SourceError, match="not a complete gzip file"):
            docs.ingest_documents(settings_for(tmp_path, export), warehouse)
        assert set(warehouse.fetch("select status, watermark_to from ops.ingest_runs")) == {
            ("failed", days[0].name.removeprefix("date="))
        }
    finally:
        warehouse.close()


def test_register_rows_are_read_whatever_their_quoting(tmp_path: Path) -> None:
    header = ",".join(register.REGISTER_COLUMNS).encode()
    rows = [
        b'"000.00.01.H37,2025/07/01,1/UBND-VP",1,UBND-VP,000.00.01.H37,000.00.02.H37,1,18,'
        b"C\xc3\xb4ng v\xc4\x83n,2025/07/01,2025/07/01 08:00:00,0,2,1,1,0",
        b'"000.00.01.H37,2025/07/01,2/UBND-VP",2,UBND-VP,000.00.01.H37',  # short row
    ]
    path = tmp_path / "register.csv.gz"
    path.write_bytes(gzip.compress(b"\n".join([header, *rows]) + b"\n"))
    lines, head = reading.read_lines(path, "documents/date=2025-07-01/register.csv.gz", True)
    agencies = pl.DataFrame(
        {"code": ["000.00.01.H37", "000.00.02.H37"], "valid_from": [date(2025, 7, 1)] * 2,
         "valid_to": [None, None]},
        schema={"code": pl.String, "valid_from": pl.Date, "valid_to": pl.Date},
    )  # fmt: skip
    texts, _ = utf8_column(lines.lines)
    prepared = register.prepare_register(
        lines, texts, {}, head, docs.AgencyDirectory(agencies), date(2025, 7, 1)
    )
    assert prepared.rows["document_id"].to_list() == ["000.00.01.H37,2025/07/01,1/UBND-VP"]
    assert prepared.rows["type_name"].to_list() == ["Công văn"]
    (rejection,) = prepared.rejections
    assert rejection.record_key == "000.00.01.H37,2025/07/01,2/UBND-VP"
    assert "15 CSV fields" in rejection.reason


def test_raw_tables_are_declared_as_dbt_sources() -> None:
    import yaml

    path = Path(__file__).parent.parent / "dbt_project/models/staging/_documents__sources.yml"
    (source,) = yaml.safe_load(path.read_text(encoding="utf-8"))["sources"]
    assert source["schema"] == "raw" and source["loaded_at_field"] == "_loaded_at"
    declared = {t["name"]: t for t in source["tables"]}
    for table in TABLES.values():
        name = table.name.removeprefix("raw.")
        columns = [c["name"] for c in declared[name]["columns"]]
        expected = ["province_code", *(f.name for f in table.schema), "_run_id", "_loaded_at"]
        assert columns == expected
        assert all(c.get("description") for c in declared[name]["columns"])


def test_status_lines_laid_out_otherwise_are_read_by_tag(clean: Path) -> None:
    """Valid statuses without the canonical layout leave the positional reading, not the
    fast path, and are read the same as the parser reads them."""
    line = export_lines(clean, docs.STATUS_SOURCE)[0][1].decode()
    name = re.search(r"<edXML:OrganName>[^<]*</edXML:OrganName>", line).group()
    department = re.search(r"<edXML:Department>[^<]*</edXML:Department>", line).group()
    staff = re.search(r"<edXML:StaffInfo>.*</edXML:StaffInfo>", line).group()
    variants = [
        line,
        line.replace(name, "<edXML:OrganName/>"),
        line.replace(name, ""),
        line.replace(department, ""),
        line.replace(staff, ""),
        line.replace("Đã", "Đã &amp; &lt;b&gt;"),
    ]
    lines = [v.encode() for v in variants]
    texts, _ = utf8_column(pa.array(lines, pa.binary()))
    collected = fastpath.fast_query(pl.Series(texts), docs.STATUS_SOURCE).collect()
    assert collected["_accepted"].all()
    assert collected["_positional"].to_list() == [True, False, False, False, False, True]
    fast, slow = fields_both_ways(lines, docs.STATUS_SOURCE)
    rows = normalised(fast, docs.STATUS_SOURCE)
    assert [row.pop("_i") for row in rows] == list(range(len(lines)))
    for row, parsed in zip(rows, slow, strict=True):
        assert row == as_fast(parsed)
    assert rows[4]["staff"] is None
    assert rows[5]["description"].startswith("Đã & <b>")


def test_a_status_is_checked_against_the_statuses_already_loaded(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb", province_code="37")
    try:
        docs.ensure_tables(warehouse)
        loaded = pa.table(
            {
                "province_code": ["37", "37"],
                "document_id": ["D", "D"],
                "receiver_code": ["R", "S"],
                "status_code": ["04", "01"],
                "status_at": pa.array(
                    [datetime(2025, 7, 2, 9), datetime(2025, 7, 2, 9)], pa.timestamp("us")
                ),
                "_run_id": ["r", "r"],
                "_loaded_at": pa.array([datetime(2025, 7, 3)] * 2, pa.timestamp("us")),
            }
        )
        warehouse.append(docs.STATUS_TABLE.name, loaded)
        latest = loading.latest_status(warehouse)
        assert latest == datetime(2025, 7, 2, 9)
        batch = pl.DataFrame(
            {
                "_i": [0, 1],
                "document_id": ["D", "D"],
                "receiver_code": ["R", "R"],
                "status_code": ["05", "06"],
                "status_at": [datetime(2025, 7, 2, 8), datetime(2025, 7, 3, 8)],
            }
        )
        history = loading._status_history(warehouse, batch, latest)
        assert history.height == 1  # only R's: S answers no document of the batch
        assert dict(loading.out_of_order(batch, history).iter_rows()).keys() == {0}
        later = batch.filter(pl.col("_i") == 1)
        assert loading._status_history(warehouse, later, latest).height == 0  # no lookup needed
    finally:
        warehouse.close()
