"""Property-based fuzzing of every parser: dossier JSON, events, edXML documents and statuses,
report CSV and Excel. Inputs are the simulator's own records, mutated (cut, bytes inserted,
deleted or replaced, tokens each format treats specially), and random bytes. For every input:
no exception, and every record is either a row or a rejection with a reason (counts
reconcile). Where the edXML grammar accepts a message, the parser reads the same fields.

The fast profile runs in ``make test-fast`` (~2,000 cases); the heavy one, ten times as many,
is marked ``slow``.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingestion import ledger
from ingestion.documents import MESSAGES_SOURCE, STATUS_SOURCE, AgencyDirectory
from ingestion.documents.checking import (
    Prepared,
    _clean_text,
    prepare_messages,
    prepare_status,
)
from ingestion.documents.fastpath import accepted_fields, accepted_lines, fast_query
from ingestion.documents.grammar import MESSAGE_TAGS, STATUS_FIELDS
from ingestion.documents.packages import read_packages
from ingestion.documents.slowpath import slow_message, slow_status
from ingestion.lines import NOT_UTF8, Block, utf8_column
from ingestion.procedures.checks import check_dossiers, check_events
from ingestion.procedures.contracts import CodeLists
from ingestion.reports.catalogue import read_catalogue
from ingestion.reports.contracts import COLUMNS
from ingestion.reports.reading import read_csv_export, read_excel_export
from ingestion.reports.reference import Reference, read_agencies
from ingestion.reports.validation import rejections_of, validate
from simulator.reports import WorkbookWriter

# Cases per parser in the fast profile (about 1,100 in all, ~35 s on the loaded 2-core VM);
# the heavy profile runs ten times as many.
FAST = {"dossiers": 150, "events": 150, "edxml": 300, "csv": 120, "excel": 40}
HEAVY_FACTOR = 10
PROFILES = [
    pytest.param(1, id="fast"),
    pytest.param(HEAVY_FACTOR, id="heavy", marks=pytest.mark.slow),
]
JSON_TOKENS = [b'"', b"{", b"}", b"[", b"]", b",", b":", b"null", b"true", b"1e999", b"-0",
               b"\\u0000", b"\\ud800", b'"NgayCapNhat":"20991231000000"', b"\xff", b"\xc3",
               b"\x00", b"\n", b'"MaHoSo":null', b"{}" * 50]  # fmt: skip
XML_TOKENS = [b"<", b">", b"&", b"&amp;", b"&e;", b"&#0;", b"&#xFFFE;", b"<![CDATA[x]]>",
              b"<!-- c -->", b'<!DOCTYPE edXML [<!ENTITY e "x">]>', b"</edXML:From>",
              b"<edXML:To>", b"\xff", b"\xc3", b"\x00", b"\r\n", b"\xef\xbb\xbf", b"  \n  ",
              b"edXML:", b"ns0:", b'"', b"</edXML:edXMLEnvelope>"]  # fmt: skip
CSV_TOKENS = [b'"', b",", b";", b"\r", b"\xff", b"\xc3", b"\x00", b"1e309", b"NaN", b"-1",
              b"31/02/2025", b"2025-07-01", b"  ", b'""']  # fmt: skip


def mutations(originals: list[bytes], tokens: list[bytes]) -> st.SearchStrategy[bytes]:
    """A record, mutated a few times; or random bytes; or one of the tokens alone."""

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(originals)))
        for _ in range(draw(st.integers(0, 4))):
            at = draw(st.integers(0, len(data)))
            kind = draw(st.sampled_from(["cut", "insert", "delete", "replace", "token"]))
            if kind == "cut":
                del data[at:]
            elif kind == "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=6))
            elif kind == "delete":
                del data[at : at + draw(st.integers(1, 12))]
            elif kind == "replace" and at < len(data):
                data[at] = draw(st.integers(0, 255))
            else:
                data[at:at] = draw(st.sampled_from(tokens))
        return bytes(data)

    return st.one_of(
        mutated(), mutated(), mutated(), st.binary(max_size=200), st.sampled_from(tokens)
    )


def run(examples: int, strategy: st.SearchStrategy[bytes], check: Callable[[bytes], None]) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(strategy)
    def property_holds(record: bytes) -> None:
        check(record)

    property_holds()


def assert_reasoned(rejections: list[ledger.Rejection]) -> None:
    for rejection in rejections:
        assert isinstance(rejection.reason, str) and rejection.reason.strip(), rejection
        assert rejection.record_key, rejection  # a key, else where the record was


# -- procedures: dossier JSON and events ----------------------------------------------------------


@pytest.fixture(scope="module")
def procedure_lines(small_sources: Path) -> dict[str, list[bytes]]:
    folder = small_sources / "procedures"
    return {
        name: (folder / f"{name}.jsonl").read_bytes().splitlines()[:300]
        for name in ("dossiers", "events")
    }


@pytest.mark.parametrize("examples", PROFILES)
def test_dossier_json(examples: int, procedure_lines: dict[str, list[bytes]]) -> None:
    lines = procedure_lines["dossiers"]
    records = [json.loads(line) for line in lines[:50]]
    codes = CodeLists(frozenset(r["MaTTHC"] for r in records),
                      frozenset(r["DonViXuLy"] for r in records))  # fmt: skip
    engine = duckdb.connect()
    pseudonyms = ledger.Pseudonyms(b"fuzz", capacity=0)

    def check(record: bytes) -> None:
        lines = pa.array([record], pa.large_binary())
        where = "dossiers.jsonl:{}".format
        batch = check_dossiers(engine, lines, codes, pseudonyms, lambda i: where(i + 1), 2**16)
        assert batch.rows.num_rows + len(batch.rejections) == batch.read == 1
        assert_reasoned(batch.rejections)

    run(examples * FAST["dossiers"], mutations(lines, JSON_TOKENS), check)


@pytest.mark.parametrize("examples", PROFILES)
def test_event_json(examples: int, procedure_lines: dict[str, list[bytes]]) -> None:
    engine = duckdb.connect()
    pseudonyms = ledger.Pseudonyms(b"fuzz")
    no_receptions = pl.DataFrame(schema={"MaHoSo": pl.String, "_received": pl.String})

    def check(record: bytes) -> None:
        lines = pa.array([record], pa.large_binary())
        where = "events.jsonl:{}".format
        batch = check_events(engine, lines, lambda _: no_receptions, pseudonyms,
                             lambda i: where(i + 1), 2**16)  # fmt: skip
        assert batch.rows.num_rows + len(batch.rejections) == batch.read == 1
        assert_reasoned(batch.rejections)

    run(examples * FAST["events"], mutations(procedure_lines["events"], JSON_TOKENS), check)


# -- documents: edXML messages and statuses ------------------------------------------------------


@pytest.fixture(scope="module")
def edxml(small_sources: Path) -> dict[str, list[bytes]]:
    days = sorted((small_sources / "documents").iterdir())[30:34]
    out: dict[str, list[bytes]] = {MESSAGES_SOURCE: [], STATUS_SOURCE: []}
    for day in days:
        for source, name in ((MESSAGES_SOURCE, "documents.edxml.zip"),
                             (STATUS_SOURCE, "status.edxml.zip")):  # fmt: skip
            block, _ = read_packages(day / name, name)
            out[source] += block.lines.to_pylist()[:100]
    return out


def check_edxml(
    source: str, message: bytes, agencies: AgencyDirectory, pseudonyms: ledger.Pseudonyms
) -> Prepared:
    """One message through the connector's checks, as a day's zip entry would go."""
    block = Block("fuzz.zip", pa.array([message], pa.large_binary()), pa.array([1]).to_numpy(),
                  0, 2, ("000001.edxml",))  # fmt: skip
    texts, bad = utf8_column(block.lines)
    unreadable = dict.fromkeys(bad, NOT_UTF8)
    verdicts = accepted_lines(block.lines, sorted(unreadable), source)
    fast = fast_query(pl.Series("line", texts), source, verdicts).collect()
    prepare = prepare_messages if source == MESSAGES_SOURCE else prepare_status
    prepared = prepare(block, unreadable, fast, agencies, date(2025, 7, 1), pseudonyms)
    accepted = accepted_fields(fast, source)
    if accepted.height:  # text as XML means it, as the connector reads it (entities unescaped)
        accepted = _clean_text(accepted, MESSAGE_TAGS if source == MESSAGES_SOURCE else
                               STATUS_FIELDS)  # fmt: skip
    if accepted.height and not unreadable:  # the grammar took it: the parser reads the same
        parsed = (slow_message if source == MESSAGES_SOURCE else slow_status)(message)
        assert isinstance(parsed, dict), (parsed, message)
        for name, value in accepted.drop("_i").row(0, named=True).items():
            theirs = parsed.get(name)
            if name == "code":
                continue  # the fast path never reads ResponseFor/Code
            if isinstance(value, str) or isinstance(theirs, str):
                assert (value or "").strip() == (theirs or "").strip(), (name, value, theirs)
            elif isinstance(value, list):  # receivers: unescaped as the connector does
                unescaped = [html.unescape(v).strip() for v in value]
                assert unescaped == [t.strip() for t in theirs], name
            else:
                assert value == theirs, (name, value, theirs)
    return prepared


@pytest.mark.parametrize("source", [MESSAGES_SOURCE, STATUS_SOURCE])
@pytest.mark.parametrize("examples", PROFILES)
def test_edxml(
    examples: int, source: str, edxml: dict[str, list[bytes]], small_sources: Path
) -> None:
    agencies = AgencyDirectory.read(small_sources / "reference" / "agencies.csv")
    pseudonyms = ledger.Pseudonyms(b"fuzz")

    def check(message: bytes) -> None:
        prepared = check_edxml(source, message, agencies, pseudonyms)
        assert prepared.rows.height + len(prepared.rejections) == 1
        assert_reasoned(prepared.rejections)

    run(examples * FAST["edxml"], mutations(edxml[source], XML_TOKENS), check)


# -- reports: CSV and Excel ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def reports(small_sources: Path) -> tuple[Path, Reference]:
    folder = small_sources / "reports"
    regimes, _, indicators, _, _, _ = read_catalogue(folder / "regimes.json")
    agencies = read_agencies(small_sources / "reference" / "agencies.csv")
    return next(folder.glob("period=*/*.csv")), Reference(regimes, indicators, agencies)


def reconcile(batch: object, reference: Reference) -> None:
    valid, rejected = validate(batch.rows, reference)  # type: ignore[attr-defined]
    rejections = batch.broken + rejections_of(rejected, batch)  # type: ignore[attr-defined]
    assert valid.height + len(rejections) == batch.read  # type: ignore[attr-defined]
    for rejection in rejections:
        assert isinstance(rejection.reason, str) and rejection.reason.strip(), rejection


@pytest.mark.parametrize("examples", PROFILES)
def test_report_csv(examples: int, reports: tuple[Path, Reference], tmp_path: Path) -> None:
    export, reference = reports
    header, *rows = export.read_bytes().split(b"\r\n")
    rows = [r for r in rows if r][:200]
    path = tmp_path / "bao_cao.csv"

    def check(row: bytes) -> None:
        path.write_bytes(header + b"\r\n" + row + b"\r\n")
        reconcile(read_csv_export(path, "reports/period=2025-07/bao_cao.csv"), reference)

    run(examples * FAST["csv"], mutations(rows, CSV_TOKENS), check)


CELL = st.one_of(
    st.none(),
    st.text(st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.dates(date(1900, 3, 1), date(2100, 1, 1)),
    st.datetimes(datetime(1900, 3, 1), datetime(2100, 1, 1)),
)


@pytest.mark.parametrize("examples", PROFILES)
def test_report_excel(examples: int, reports: tuple[Path, Reference], tmp_path: Path) -> None:
    export, reference = reports
    rows = list(csv.reader(io.StringIO(export.read_text(encoding="utf-8-sig"))))[1:60]
    path = tmp_path / "bao_cao.xlsx"

    @st.composite
    def workbook_rows(draw: st.DrawFn) -> list[list[object]]:
        out = []
        for _ in range(draw(st.integers(1, 3))):
            row: list[object] = list(draw(st.sampled_from(rows)))
            for _ in range(draw(st.integers(0, 3))):
                row[draw(st.integers(0, len(COLUMNS) - 1))] = draw(CELL)
            if row not in out:  # the same row twice is a duplicate, counted as such: not here
                out.append(row)
        return out

    @settings(max_examples=examples * FAST["excel"], deadline=None, database=None,
              derandomize=True, suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(workbook_rows())
    def property_holds(cells: list[list[object]]) -> None:
        workbook = WorkbookWriter(path, [("fuzz", "fuzz")] * 5, datetime(2025, 7, 1))
        for row in cells:
            workbook.add("".join(workbook.cell(value) for value in row))
        workbook.close()
        reconcile(read_excel_export(path, "reports/period=2025-07/bao_cao.xlsx"), reference)

    property_holds()
