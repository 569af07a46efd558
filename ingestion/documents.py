"""Connector for the document management system: edXML documents, their statuses, the register.

The system drops one batch per calendar day (see :mod:`simulator.documents` for the layout)::

    <documents_export_dir>/date=YYYY-MM-DD/register.csv.gz           every outgoing document
    <documents_export_dir>/date=YYYY-MM-DD/documents.edxml.lines.gz  edXML documents sent
    <documents_export_dir>/date=YYYY-MM-DD/status.edxml.lines.gz     edXML status messages
    <documents_export_dir>/../reference/agencies.csv                 the agency directory

Three sources, each with its own watermark (the last daily batch fully loaded) and its own row
in ``ops.ingest_runs`` per run: ``documents.register``, ``documents.messages`` and
``documents.status``. A run loads the batches after the watermark in date order, **one
transaction per day** (rows, rejected records, run counts and watermarks of the three sources),
so a run killed midway resumes at the next day and loses or duplicates nothing; re-running the
same window changes nothing (every record found again counts as a duplicate).

Raw tables (history + ``<table>__latest`` view, see :mod:`ingestion.loader`):

``raw.documents__register``  one row per register row; key ``document_id``, update ``sent_at``.
``raw.documents__messages``  one row per edXML document; key ``document_id``, update ``sent_at``.
``raw.documents__receivers`` the ``To`` agencies of each document (a document has one or
                             more), in message order; key ``document_id`` + ``receiver_code``,
                             update ``sent_at``. Kept as a table of its own rather than a JSON
                             array, so that staging joins it the same way on DuckDB and PostgreSQL.
``raw.documents__status``    one row per status message; key ``document_id`` +
                             ``receiver_code`` + ``status_code``, update ``status_at``.

Personal data never reaches them: the signer's ``FullName`` and the ``Staff`` account of a
status become keyed hashes (``signer_key``, ``handler_key``, :func:`ingestion.ledger.keyed_hash`);
staff departments, agency e-mails and phones are dropped. The landing zone keeps the lines as
read (personal data included, pruned after the retention).

**Parsing, fast and safe.** A province-year is ~16 GB of XML (2 M documents, 9 M statuses), far
too much for an XML parser on two cores (expat alone runs at ~150 MB/s, ElementTree ~60 MB/s).
Each line is instead checked against a *strict grammar* of the canonical message
(:data:`DOCUMENT_NODES`, :data:`STATUS_NODES`, see :mod:`ingestion.xmlgrammar`) that spells
every tag, attribute and nesting level literally and restricts text to characters XML allows
unescaped (no ``<``, ``>``, ``&`` but the five predefined entities, no control characters). The
grammar runs as an automaton compiled by re2c (:mod:`ingestion.compiled`, ~1 GB/s here), or,
where it cannot be built, as a regular expression in polars (:data:`DOCUMENT_GRAMMAR`,
:data:`STATUS_GRAMMAR`, ~0.2 GB/s); both accept the same lines (tested). A line it accepts is
therefore a well-formed XML document whose elements sit exactly where the grammar puts them, so
a field is the text after an opening tag that occurs once in the grammar (read with vectorised
string functions; status lines in their canonical layout by position, see
:data:`STATUS_POSITIONS`). Lines the grammar does not accept — faults, but also valid edXML
written otherwise (whitespace between tags, CDATA, comments, another element order) — go to the
slow path: a real XML parser (:mod:`xml.etree.ElementTree`) is the arbiter: it rejects what is
not well-formed and reads fields by path from what is. Both paths read the same fields (tested
line by line and on randomly mutated lines), and a broken or truncated line is never loaded: the
grammar does not accept it and the parser rejects it. Lines that are not valid UTF-8 (the
container format's encoding) are rejected first, their payload kept decoded as Windows-1258
(else Latin-1).

**Contracts.** Required fields; dates that must parse and exist; status codes in the QCVN 102
list; page counts up to :data:`MAX_PAGES`; agency codes that are in the agency directory **and in
force on the record's date** (the merger reused codes: an old code is valid until 30 June 2025,
the new agency that reuses it from 1 July); status messages that come before one of the same
receiver's earlier stages of the same document (``06`` completed timestamped before ``01``
arrived) are rejected as out of order. Every rejected record goes to ``ops.rejected_records``
with its reason, the original line as payload and a record key: the DocumentId
(``DocumentId|receiver|StatusCode`` for a status), rebuilt from the code parts when the
DocumentId element is missing, else ``<file>:<line>`` when nothing identifies the record.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from xml.parsers import expat

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from isal import igzip, isal_zlib

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import Warehouse, one_thread_per_statement
from ingestion import compiled, landing, ledger
from ingestion.contract import Contract, Field
from ingestion.ledger import IngestResult, Rejection, RunCounts
from ingestion.lines import NOT_UTF8, Block, decode_for_storage, split_lines, utf8_column
from ingestion.loader import RawTable, load_batch
from ingestion.xmlgrammar import (
    EMPTY,
    Lit,
    Node,
    Seq,
    alt,
    any_of,
    many,
    none_of,
    opt,
    regex,
    seq,
    star,
)

REGISTER_SOURCE = "documents.register"
MESSAGES_SOURCE = "documents.messages"
STATUS_SOURCE = "documents.status"
SOURCES = (REGISTER_SOURCE, MESSAGES_SOURCE, STATUS_SOURCE)
FILES = {
    REGISTER_SOURCE: "register.csv.gz",
    MESSAGES_SOURCE: "documents.edxml.lines.gz",
    STATUS_SOURCE: "status.edxml.lines.gz",
}
BATCH_PREFIX = "date="
READERS = 2  # threads reading and checking the next days while one is loaded (CPU-bound)
AGENCIES_FILE = Path("reference") / "agencies.csv"

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XLINK_NS = "http://www.w3.org/1999/xlink"

# QCVN 102:2016 (amended 2022) status codes, and the order of the processing stages: a status
# may not be timestamped before a lower stage of the same receiver for the same document.
STATUS_CODES = {
    "01": "arrived",
    "02": "rejected",
    "03": "accepted",
    "04": "assigned",
    "05": "in process",
    "06": "completed",
    "13": "recall requested",
    "15": "recall accepted",
    "16": "recall refused",
}
STAGE = {"01": 1, "02": 2, "03": 2, "04": 3, "05": 4, "06": 5}  # recall codes have no stage
MAX_PAGES = 10_000  # no official document has ten thousand pages
PRIORITIES = ("0", "1", "2", "3")  # normal, Khẩn, Thượng khẩn, Hỏa tốc
DATE_FORMAT, STAMP_FORMAT = "%Y/%m/%d", "%Y/%m/%d %H:%M:%S"
DATE_FIELD = {"pattern": r"^\d{4}/\d{2}/\d{2}$", "timestamp_format": DATE_FORMAT}
STAMP_FIELD = {
    "pattern": r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$",
    "timestamp_format": STAMP_FORMAT,
}
DIGITS = r"^\d{1,18}$"

# -- raw tables ---------------------------------------------------------------------------------

_DATE, _STAMP = pa.date32(), pa.timestamp("us")
REGISTER_TABLE = RawTable(
    "raw.documents__register",
    pa.schema(
        [
            ("document_id", pa.string()),
            ("code_number", pa.string()),
            ("code_notation", pa.string()),
            ("sender_code", pa.string()),
            ("receiver_codes", pa.string()),
            ("receiver_count", pa.int64()),
            ("type_code", pa.int64()),
            ("type_name", pa.string()),
            ("promulgation_date", _DATE),
            ("sent_at", _STAMP),
            ("priority", pa.int64()),
            ("page_amount", pa.int64()),
            ("is_electronic", pa.bool_()),
            ("is_signed", pa.bool_()),
            ("is_secret", pa.bool_()),
            ("batch_date", _DATE),
        ]
    ),
    natural_key=("document_id",),
    updated="sent_at",
)
MESSAGES_TABLE = RawTable(
    "raw.documents__messages",
    pa.schema(
        [
            ("document_id", pa.string()),
            ("sender_code", pa.string()),
            ("code_number", pa.string()),
            ("code_notation", pa.string()),
            ("promulgation_date", _DATE),
            ("type_code", pa.int64()),
            ("type_name", pa.string()),
            ("subject", pa.string()),
            ("priority", pa.int64()),
            ("page_amount", pa.int64()),
            ("due_date", _DATE),
            ("sent_at", _STAMP),
            ("receiver_count", pa.int64()),
            ("is_signed", pa.bool_()),
            ("attachment_count", pa.int64()),
            ("signer_key", pa.string()),
            ("batch_date", _DATE),
        ]
    ),
    natural_key=("document_id",),
    updated="sent_at",
)
RECEIVERS_TABLE = RawTable(
    "raw.documents__receivers",
    pa.schema(
        [
            ("document_id", pa.string()),
            ("receiver_code", pa.string()),
            ("position", pa.int64()),
            ("sent_at", _STAMP),
            ("batch_date", _DATE),
        ]
    ),
    natural_key=("document_id", "receiver_code"),
    updated="sent_at",
)
STATUS_TABLE = RawTable(
    "raw.documents__status",
    pa.schema(
        [
            ("document_id", pa.string()),
            ("sender_code", pa.string()),
            ("promulgation_date", _DATE),
            ("receiver_code", pa.string()),
            ("status_code", pa.string()),
            ("description", pa.string()),
            ("status_at", _STAMP),
            ("handler_key", pa.string()),
            ("batch_date", _DATE),
        ]
    ),
    natural_key=("document_id", "receiver_code", "status_code"),
    updated="status_at",
)
RAW_TABLES = (REGISTER_TABLE, MESSAGES_TABLE, RECEIVERS_TABLE, STATUS_TABLE)

# -- contracts ----------------------------------------------------------------------------------

REGISTER_CONTRACT = Contract(
    source=REGISTER_SOURCE,
    fields=(
        Field("document_id", required=True, description="DocumentId (SDK form)"),
        Field("code_number", required=True, pattern=DIGITS),
        Field("code_notation"),
        Field("sender_code", required=True, description="Sending agency (MaDinhDanh)"),
        Field("receiver_codes", required=True, description="Receiving agencies, ;-separated"),
        Field("receiver_count", pattern=DIGITS),
        Field("type_code", pattern=DIGITS),
        Field("type_name"),
        Field("promulgation_date", required=True, **DATE_FIELD),
        Field("sent_at", required=True, **STAMP_FIELD),
        Field("priority", allowed=PRIORITIES),
        Field("page_amount", pattern=DIGITS),
        Field("is_electronic", required=True, allowed=("0", "1")),
        Field("is_signed", required=True, allowed=("0", "1")),
        Field("is_secret", required=True, allowed=("0", "1")),
    ),
)
MESSAGE_CONTRACT = Contract(
    source=MESSAGES_SOURCE,
    fields=(
        Field("document_id", required=True, description="MessageHeader/DocumentId"),
        Field("sender_code", required=True, description="MessageHeader/From/OrganId"),
        Field("code_number", required=True, pattern=DIGITS),
        Field("code_notation"),
        Field("promulgation_date", required=True, **DATE_FIELD),
        Field("type_code", pattern=DIGITS),
        Field("type_name"),
        Field("subject"),
        Field("priority", allowed=PRIORITIES),
        Field("page_amount", pattern=DIGITS),
        Field("due_date", **DATE_FIELD),
        Field("sent_at", required=True, **STAMP_FIELD, description="TraceHeader/Timestamp"),
        Field("signer_name", personal=True, description="SignerInfo/FullName"),
    ),
)
STATUS_CONTRACT = Contract(
    source=STATUS_SOURCE,
    fields=(
        Field("document_id", required=True, description="ResponseFor/DocumentId"),
        Field("sender_code", description="ResponseFor/OrganId"),
        Field("promulgation_date", **DATE_FIELD, description="ResponseFor/PromulgationDate"),
        Field("receiver_code", required=True, description="From/OrganId (the receiver)"),
        Field("status_code", required=True, allowed=tuple(STATUS_CODES)),
        Field("description"),
        Field("status_at", required=True, **STAMP_FIELD, description="Timestamp"),
        Field("staff", personal=True, description="StaffInfo/Staff"),
    ),
)
PERSONAL_FIELDS = (*MESSAGE_CONTRACT.personal_fields, *STATUS_CONTRACT.personal_fields)
# Checks beyond the fields' own, as (condition flagging a bad row, reason).
ABSURD_PAGES = (
    pl.col("page_amount").cast(pl.Int64, strict=False) > MAX_PAGES,
    f"page_amount: above {MAX_PAGES:,} pages (absurd value)",
)
MESSAGE_CHECKS = [
    (pl.col("receivers").list.len() == 0, "missing required field To (no receiver)"),
    (
        pl.col("receivers").list.eval(pl.element().is_null() | (pl.element() == "")).list.any(),
        "missing required field To/OrganId",
    ),
    ABSURD_PAGES,
]
REGISTER_CHECKS = [ABSURD_PAGES]

# -- the strict grammar of canonical messages ---------------------------------------------------
#
# Written as xmlgrammar nodes: run as a regex by polars, or compiled by re2c (ingestion.compiled).
# Text holds no markup character and only predefined entities, so in an accepted line "<" only
# ever starts one of the literal tags below. Leaves read by the fast path (_field) must be
# written out in full (``<x>text</x>``): each of their opening tags occurs exactly once in an
# accepted line (``To`` once per receiver), which is what the extraction relies on. Other
# leaves may also be empty (``<x/>``) or absent where QCVN 102 allows it.

_ENTITY = seq("&", alt(seq("a", alt("mp", "pos")), "lt", "gt", "quot"), ";")
_NONCHARACTERS = (0xFFFE, 0xFFFF)  # not XML characters; other controls but tab are not allowed
_TEXT = star(alt(none_of("<>&", (0x00, 0x08), (0x0A, 0x1F), _NONCHARACTERS), _ENTITY))
_VALUE = seq('"', star(alt(none_of('<>&"', (0x00, 0x1F), _NONCHARACTERS), _ENTITY)), '"')
_BASE64 = star(any_of((0x41, 0x5A), (0x61, 0x7A), (0x30, 0x39), "+/="))


def _attrs(*pairs: tuple[str, str | None]) -> Seq:
    return seq(*(seq(f" {n}=", f'"{v}"' if v is not None else _VALUE) for n, v in pairs))


def _el(name: str, *children: Node, attrs: Node = EMPTY, prefix: str = "edXML:") -> Seq:
    tag = f"{prefix}{name}"
    return seq(f"<{tag}", attrs, ">", *children, f"</{tag}>")


def _leaf(name: str, prefix: str = "edXML:", body: Node = _TEXT) -> Seq:
    tag = f"{prefix}{name}"
    return seq(f"<{tag}", alt("/>", seq(">", body, f"</{tag}>")))


def _field(name: str, prefix: str = "edXML:") -> Seq:
    tag = f"{prefix}{name}"
    return seq(f"<{tag}>", _TEXT, f"</{tag}>")


def _empty(name: str, attrs: Node) -> Seq:
    return seq(f"<{name}", attrs, alt("/>", f"></{name}>"))


_DECLARATION = seq(
    opt(any_of("\ufeff")),
    '<?xml version="1.0"',
    opt(' encoding="', Lit("utf-8", nocase=True), '"'),
    opt(' standalone="', alt("yes", "no"), '"'),
    "?>",
)
_END = star(any_of(" \t\r"))
_SIGNATURE = _el(
    "Signature",
    _el("SignedInfo",
        _empty("CanonicalizationMethod", _attrs(("Algorithm", None))),
        _empty("SignatureMethod", _attrs(("Algorithm", None))),
        many(_el("Reference",
                 opt(_el("Transforms", many(_empty("Transform", _attrs(("Algorithm", None)))),
                         prefix="")),
                 _empty("DigestMethod", _attrs(("Algorithm", None))),
                 _leaf("DigestValue", "", _BASE64),
                 attrs=_attrs(("URI", None)), prefix="")),
        prefix=""),
    _leaf("SignatureValue", "", _BASE64),
    opt(_el("KeyInfo",
            _el("X509Data",
                many(alt(_leaf("X509SubjectName", ""), _leaf("X509Certificate", "", _BASE64))),
                prefix=""),
            prefix="")),
    attrs=_attrs(("xmlns", DSIG_NS)), prefix="",
)  # fmt: skip
_MESSAGE_HEADER = _el(
    "MessageHeader",
    _el("From", _field("OrganId"), opt(_leaf("OrganizationInCharge")), opt(_leaf("OrganName")),
        opt(_leaf("OrganAdd")), opt(_leaf("Email")), opt(_leaf("Telephone")),
        opt(_leaf("Fax")), opt(_leaf("Website"))),
    many(_el("To", _field("OrganId"), opt(_leaf("OrganName")), opt(_leaf("OrganAdd")),
             opt(_leaf("Email")), opt(_leaf("Telephone")), opt(_leaf("Fax")),
             opt(_leaf("Website")))),
    _el("Code", _field("CodeNumber"), _field("CodeNotation")),
    _el("PromulgationInfo", opt(_leaf("Place")), _field("PromulgationDate")),
    _el("DocumentType", _field("Type"), opt(_leaf("TypeDetail")), _field("TypeName")),
    _field("Subject"),
    opt(_leaf("Content")),
    _el("SignerInfo", opt(_leaf("Competence")), opt(_leaf("Position")), _field("FullName")),
    _field("DueDate"),
    _el("OtherInfo", _field("Priority"), opt(_leaf("SphereOfPromulgation")),
        opt(_leaf("TyperNotation")), opt(_leaf("PromulgationAmount")), _field("PageAmount")),
    opt(_leaf("SteeringType")),
    _field("DocumentId"),
)  # fmt: skip
_TRACE_HEADERS = _el(
    "TraceHeaderList",
    _el("TraceHeader", _leaf("OrganId"), _field("Timestamp")),
    opt(_el("Bussiness", opt(_leaf("BussinessDocType")), opt(_leaf("BussinessDocReason")),
            opt(_leaf("Paper")),
            opt(_el("StaffInfo", opt(_leaf("Department")), opt(_leaf("Staff")),
                    opt(_leaf("Email")), opt(_leaf("Mobile")))))),
)  # fmt: skip
_MANIFEST_REFERENCE = _el(
    "Reference",
    opt(_leaf("ContentId")), opt(_leaf("ContentType")), opt(_leaf("Description")),
    opt(_leaf("AttachmentName")),
    attrs=_attrs(("xmlns:xlink", XLINK_NS), ("xlink:href", None), ("xlink:role", None),
                 ("xlink:type", None)),
)  # fmt: skip
_ATTACHMENT = _el(
    "Attachment",
    opt(_leaf("ContentType", "")), opt(_leaf("ContentId", "")), opt(_leaf("Description", "")),
    _leaf("ContentTransferEncoded", "", _BASE64), opt(_leaf("AttachmentName", "")),
    prefix="",
)  # fmt: skip
DOCUMENT_NODES = seq(
    _DECLARATION,
    _el("edXML",
        _el("edXMLEnvelope",
            _el("edXMLHeader", _MESSAGE_HEADER, _TRACE_HEADERS, opt(_SIGNATURE)),
            _el("edXMLBody",
                _el("edXMLManifest", star(_MANIFEST_REFERENCE), attrs=_attrs(("version", None)))),
            attrs=_attrs(("xmlns:edXML", NS))),
        opt(_el("AttachmentEncoded", star(_ATTACHMENT), prefix="")),
        attrs=_attrs(("xmlns", NS)), prefix=""),
    _END,
)  # fmt: skip
STATUS_NODES = seq(
    _DECLARATION,
    _el("edXMLEnvelope",
        _el("edXMLHeader",
            _el("Status",
                _el("ResponseFor", _field("OrganId"), _field("Code"), _field("PromulgationDate"),
                    _field("DocumentId")),
                _el("From", _field("OrganId"), opt(_leaf("OrganName"))),
                _field("StatusCode"),
                _field("Description"),
                _field("Timestamp"),
                opt(_el("StaffInfo", opt(_leaf("Department")), _field("Staff"),
                        opt(_leaf("Email")), opt(_leaf("Mobile")))))),
        seq("<edXML:edXMLBody", alt("/>", "></edXML:edXMLBody>")),
        attrs=_attrs(("xmlns:edXML", NS))),
    _END,
)  # fmt: skip
DOCUMENT_GRAMMAR, STATUS_GRAMMAR = regex(DOCUMENT_NODES), regex(STATUS_NODES)
GRAMMARS = {"edxml_document": DOCUMENT_NODES, "edxml_status": STATUS_NODES}
GRAMMAR_NAMES = {MESSAGES_SOURCE: "edxml_document", STATUS_SOURCE: "edxml_status"}

# Where the fast path finds each field: the text after a tag (with its parent where the tag's
# name is not unique) that occurs exactly once in a line the grammar accepts.
MESSAGE_TAGS = {
    "sender_code": "<edXML:From><edXML:OrganId>",
    "code_number": "<edXML:CodeNumber>",
    "code_notation": "<edXML:CodeNotation>",
    "promulgation_date": "<edXML:PromulgationDate>",
    "type_code": "<edXML:Type>",
    "type_name": "<edXML:TypeName>",
    "subject": "<edXML:Subject>",
    "signer_name": "<edXML:FullName>",
    "due_date": "<edXML:DueDate>",
    "priority": "<edXML:Priority>",
    "page_amount": "<edXML:PageAmount>",
    "document_id": "<edXML:DocumentId>",
    "sent_at": "<edXML:Timestamp>",
}
RECEIVER_TAG = "<edXML:To><edXML:OrganId>"
SIGNATURE_TAG = "<Signature "
REFERENCE_TAG = "<edXML:Reference "
STATUS_TAGS = {
    "sender_code": "<edXML:ResponseFor><edXML:OrganId>",
    "promulgation_date": "<edXML:PromulgationDate>",
    "document_id": "<edXML:DocumentId>",
    "receiver_code": "<edXML:From><edXML:OrganId>",
    "status_code": "<edXML:StatusCode>",
    "description": "<edXML:Description>",
    "status_at": "<edXML:Timestamp>",
    "staff": "<edXML:Staff>",
}
# A status line in its canonical layout, split at "<", has each field at a fixed position:
# (position, the element's opening tag). Since each of these tags occurs once in the grammar
# (OrganId twice, inside the fixed ResponseFor and From openings), a piece that starts with
# the expected tag is that element, and the rest of the piece is its text.
STATUS_POSITIONS = {
    "sender_code": (6, "edXML:OrganId>"),
    "promulgation_date": (10, "edXML:PromulgationDate>"),
    "document_id": (12, "edXML:DocumentId>"),
    "receiver_code": (16, "edXML:OrganId>"),
    "status_code": (21, "edXML:StatusCode>"),
    "description": (23, "edXML:Description>"),
    "status_at": (25, "edXML:Timestamp>"),
    "staff": (30, "edXML:Staff>"),
}
MESSAGE_FIELDS = (*MESSAGE_TAGS, "receivers", "is_signed", "attachment_count")
# ResponseFor/Code only serves to rebuild a missing DocumentId: never on the fast path
STATUS_FIELDS = (*STATUS_TAGS, "code")
REGISTER_COLUMNS = (
    "document_id", "code_number", "code_notation", "sender_code", "receiver_codes",
    "receiver_count", "type_code", "type_name", "promulgation_date", "sent_at", "priority",
    "page_amount", "is_electronic", "is_signed", "is_secret",
)  # fmt: skip


# -- the agency directory -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgencyDirectory:
    """Electronic identifier codes (MaDinhDanh) and the period each names its agency."""

    frame: pl.DataFrame  # code, valid_from, valid_to (dates, null = open-ended)

    @classmethod
    def read(cls, path: Path) -> AgencyDirectory:
        if not path.exists():
            raise SourceError(f"documents: the agency directory {path} does not exist")
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or "MaDinhDanh" not in rows[0]:
            raise SourceError(f"documents: {path} has no MaDinhDanh column")

        def day(text: str | None) -> date | None:
            return date.fromisoformat(text) if text else None

        return cls(
            pl.DataFrame(
                {
                    "code": [r["MaDinhDanh"] for r in rows],
                    "valid_from": [day(r.get("HieuLucTu")) for r in rows],
                    "valid_to": [day(r.get("HieuLucDen")) for r in rows],
                },
                schema={"code": pl.String, "valid_from": pl.Date, "valid_to": pl.Date},
            ).filter(pl.col("code") != "")
        )

    def problems(self, codes: pl.DataFrame, what: str) -> pl.DataFrame:
        """Per ``_i`` of ``codes`` (columns _i, _k, code, day), the first code (in ``_k``
        order) that is unknown or not in force on its day, as a reason (``_why``); rows with
        no problem are left out. Checked once per distinct (code, day)."""
        pairs = codes.select("code", "day").unique().filter(pl.col("code").is_not_null())
        checked = (
            pairs.join(self.frame, on="code", how="left")
            .with_columns(
                known=pl.col("code").is_in(self.frame["code"].implode()),
                in_force=(pl.col("valid_from").is_null() | (pl.col("valid_from") <= pl.col("day")))
                & (pl.col("valid_to").is_null() | (pl.col("day") <= pl.col("valid_to"))),
            )
            .group_by("code", "day")
            .agg(
                pl.col("known").any(),
                (pl.col("known") & pl.col("in_force")).any().alias("in_force"),
            )
        )
        bad = checked.filter(
            ~pl.col("known") | (~pl.col("in_force") & pl.col("day").is_not_null())
        ).select(
            "code",
            "day",
            pl.when(~pl.col("known"))
            .then(pl.format("{} {}: not in the agency directory", pl.lit(what), pl.col("code")))
            .otherwise(
                pl.format(
                    "{} {}: agency code not in force on {}",
                    pl.lit(what),
                    pl.col("code"),
                    pl.col("day").dt.strftime("%Y-%m-%d"),
                )
            )
            .alias("_why"),
        )
        return (
            codes.join(bad, on=["code", "day"], nulls_equal=True)
            .sort("_i", "_k")
            .group_by("_i", maintain_order=True)
            .agg(pl.col("_why").first())
            .select("_i", "_why")
        )


# -- reading a batch ----------------------------------------------------------------------------


def read_lines(path: Path, origin: str, skip_header: bool = False) -> tuple[Block, bytes | None]:
    """Decompress a gzip export (ISA-L) and split it into its non-blank lines."""
    raw = path.read_bytes()
    try:
        inflater = isal_zlib.decompressobj(31)  # one gzip member, as the system writes them
        data = inflater.decompress(raw)
        if not inflater.eof or inflater.unused_data:  # several members (or a cut file)
            data = igzip.decompress(raw)
    except (OSError, EOFError, ValueError, isal_zlib.error) as error:
        raise SourceError(f"documents: {origin} is not a complete gzip file: {error}") from error
    if data and not data.endswith(b"\n"):
        data += b"\n"  # a last line without its line end
    body, header, first = memoryview(data), None, 1
    if skip_header and data:
        cut = data.index(b"\n")
        header, body, first = data[:cut].removesuffix(b"\r"), body[cut + 1 :], 2
    lines, numbers, count = split_lines(body, first)
    return Block(origin, lines, numbers, len(data), first + count), header


# -- the fast path ------------------------------------------------------------------------------


def _after(tag: str) -> pl.Expr:
    """The text after the first ``tag``, up to the next markup (null when ``tag`` is absent)."""
    return pl.col("line").str.extract(pl.escape_regex(tag) + "([^<]*)<", 1)


@functools.cache
def compiled_grammars() -> compiled.CompiledGrammars | None:
    """The compiled edXML grammars, looked up once per process (None: not buildable here)."""
    return compiled.load(GRAMMARS)


def accepted_lines(lines: pa.Array, bad_utf8: list[int], source: str) -> np.ndarray | None:
    """Whether the grammar accepts each line, by the compiled grammar (None where it cannot
    be built here: :func:`fast_query` then runs the grammar as a regex)."""
    grammars = compiled_grammars()
    if grammars is None:
        return None
    accepted = grammars.accepts(GRAMMAR_NAMES[source], lines)
    accepted[bad_utf8] = False
    return accepted


def fast_query(texts: pl.Series, source: str, accepted: np.ndarray | None = None) -> pl.LazyFrame:
    """Per line: ``_i`` (index), ``_accepted`` (the grammar accepts it) and the fields.

    ``accepted``, when given, is the grammar's verdict per line already (the compiled grammar,
    :func:`accepted_lines`); else polars runs the grammar as a regex. The fields are only
    meaningful where ``_accepted``: there each tag occurs exactly once (``To`` once per
    receiver), so the text after it is the element's. Status lines are read by position where
    ``_positional`` (see :data:`STATUS_POSITIONS`); the other accepted lines need
    :func:`tag_fields`. Lazy, so that polars spreads the work over the cores (and two files
    run together).
    """
    line = pl.col("line")
    columns: dict[str, pl.Series] = {"line": texts}
    if accepted is not None:
        columns["_verdict"] = pl.Series(accepted, dtype=pl.Boolean)
    frame = pl.DataFrame(columns).lazy().with_row_index("_i")
    accepted_expr = (
        pl.col("_verdict")
        if accepted is not None
        else line.str.contains(DOCUMENT_GRAMMAR if source == MESSAGES_SOURCE else STATUS_GRAMMAR)
    ).fill_null(False)
    if source == MESSAGES_SOURCE:
        return frame.select(
            pl.col("_i").cast(pl.Int64),
            accepted_expr.alias("_accepted"),
            pl.lit(True).alias("_positional"),
            *tag_fields(source),
        )
    pieces = frame.with_columns(_pieces=line.str.split_exact("<", 30))
    fields, checks = [], []
    for name, (position, tag) in STATUS_POSITIONS.items():
        piece = pl.col("_pieces").struct.field(f"field_{position}")
        checks.append(piece.str.starts_with(tag))
        fields.append(piece.str.slice(len(tag)).alias(name))
    return pieces.select(
        pl.col("_i").cast(pl.Int64),
        accepted_expr.alias("_accepted"),
        pl.all_horizontal(checks).fill_null(False).alias("_positional"),
        *fields,
        pl.lit(None, pl.String).alias("code"),
        "line",
    )


def tag_fields(source: str) -> list[pl.Expr]:
    """The fields of an accepted line, each read after its (unique) opening tag."""
    line = pl.col("line")
    if source == STATUS_SOURCE:
        return [_after(tag).alias(name) for name, tag in STATUS_TAGS.items()] + [
            pl.lit(None, pl.String).alias("code")
        ]
    return [
        *[_after(tag).alias(name) for name, tag in MESSAGE_TAGS.items()],
        line.str.extract_all(pl.escape_regex(RECEIVER_TAG) + "[^<]*")
        .list.eval(pl.element().str.slice(len(RECEIVER_TAG)))
        .alias("receivers"),
        line.str.contains(SIGNATURE_TAG, literal=True).alias("is_signed"),
        line.str.count_matches(REFERENCE_TAG, literal=True)
        .cast(pl.Int64)
        .alias("attachment_count"),
    ]


def accepted_fields(collected: pl.DataFrame, source: str) -> pl.DataFrame:
    """The fields of the lines the grammar accepts, from :func:`fast_query`'s result."""
    accepted = collected.filter("_accepted")
    names = MESSAGE_FIELDS if source == MESSAGES_SOURCE else STATUS_FIELDS
    by_position = accepted.filter("_positional").select("_i", *names)
    others = accepted.filter(~pl.col("_positional"))
    if others.height == 0:
        return by_position
    by_tag = others.select("_i", *tag_fields(source))
    return pl.concat([by_position, by_tag]).sort("_i")


def fast_extract(texts: pl.Series, source: str) -> pl.DataFrame:
    """The fields of the lines the grammar accepts (column ``_i`` = line index)."""
    return accepted_fields(fast_query(texts, source).collect(), source)


# -- the slow path: a real XML parser -----------------------------------------------------------

_E, _DS = f"{{{NS}}}", f"{{{DSIG_NS}}}"
_TRUNCATION_CODES = {
    expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS],
    expat.errors.codes[expat.errors.XML_ERROR_UNCLOSED_TOKEN],
    expat.errors.codes[expat.errors.XML_ERROR_PARTIAL_CHAR],
    expat.errors.codes[expat.errors.XML_ERROR_UNCLOSED_CDATA_SECTION],
}


def _parse_xml(line: bytes) -> ET.Element | str:
    """The root element, or why the line is not a well-formed XML document."""
    try:
        return ET.fromstring(line)
    except LookupError as error:  # the declaration names an encoding Python does not know
        return f"malformed XML: {error} in the XML declaration"
    except ET.ParseError as error:
        message = expat.errors.messages.get(error.code, str(error))
        line_number, column = error.position
        where = f"line {line_number}, column {column}"
        if error.code in _TRUNCATION_CODES:
            return f"truncated XML: the message ends before its root closes ({message}, {where})"
        return f"malformed XML: {message} ({where})"


def _envelope(root: ET.Element) -> ET.Element | None:
    if root.tag == f"{_E}edXMLEnvelope":
        return root
    return root.find(f"{_E}edXMLEnvelope")  # the SDK's <edXML> file wrapper


def _text(element: ET.Element | None, path: str) -> str | None:
    if element is None:
        return None
    return element.findtext(path) or None


def slow_message(line: bytes) -> dict[str, object] | str:
    """The fields of a document message read by path, or why it cannot be read."""
    root = _parse_xml(line)
    if isinstance(root, str):
        return root
    envelope = _envelope(root)
    header = None if envelope is None else envelope.find(f"{_E}edXMLHeader/{_E}MessageHeader")
    if envelope is None or header is None:
        return "not an edXML document message (no edXMLEnvelope/edXMLHeader/MessageHeader)"
    fields: dict[str, object] = {
        name: _text(header, path)
        for name, path in (
            ("sender_code", f"{_E}From/{_E}OrganId"),
            ("code_number", f"{_E}Code/{_E}CodeNumber"),
            ("code_notation", f"{_E}Code/{_E}CodeNotation"),
            ("promulgation_date", f"{_E}PromulgationInfo/{_E}PromulgationDate"),
            ("type_code", f"{_E}DocumentType/{_E}Type"),
            ("type_name", f"{_E}DocumentType/{_E}TypeName"),
            ("subject", f"{_E}Subject"),
            ("signer_name", f"{_E}SignerInfo/{_E}FullName"),
            ("due_date", f"{_E}DueDate"),
            ("priority", f"{_E}OtherInfo/{_E}Priority"),
            ("page_amount", f"{_E}OtherInfo/{_E}PageAmount"),
            ("document_id", f"{_E}DocumentId"),
        )
    }
    fields["sent_at"] = _text(
        envelope, f"{_E}edXMLHeader/{_E}TraceHeaderList/{_E}TraceHeader/{_E}Timestamp"
    )
    fields["receivers"] = [to.findtext(f"{_E}OrganId") or "" for to in header.findall(f"{_E}To")]
    fields["is_signed"] = envelope.find(f"{_E}edXMLHeader/{_DS}Signature") is not None
    fields["attachment_count"] = len(
        envelope.findall(f"{_E}edXMLBody/{_E}edXMLManifest/{_E}Reference")
    )
    return fields


def slow_status(line: bytes) -> dict[str, object] | str:
    """The fields of a status message read by path, or why it cannot be read."""
    root = _parse_xml(line)
    if isinstance(root, str):
        return root
    envelope = _envelope(root)
    status = None if envelope is None else envelope.find(f"{_E}edXMLHeader/{_E}Status")
    if status is None:
        return "not an edXML status message (no edXMLEnvelope/edXMLHeader/Status)"
    return {
        name: _text(status, path)
        for name, path in (
            ("sender_code", f"{_E}ResponseFor/{_E}OrganId"),
            ("code", f"{_E}ResponseFor/{_E}Code"),
            ("promulgation_date", f"{_E}ResponseFor/{_E}PromulgationDate"),
            ("document_id", f"{_E}ResponseFor/{_E}DocumentId"),
            ("receiver_code", f"{_E}From/{_E}OrganId"),
            ("status_code", f"{_E}StatusCode"),
            ("description", f"{_E}Description"),
            ("status_at", f"{_E}Timestamp"),
            ("staff", f"{_E}StaffInfo/{_E}Staff"),
        )
    }


# What an unreadable line still tells about itself, for its record key.
_SALVAGE = {
    name: re.compile(re.escape(tag) + r"([^<]*)<")
    for name, tag in {
        "document_id": "<edXML:DocumentId>",
        "message_sender": "<edXML:From><edXML:OrganId>",
        "status_sender": "<edXML:ResponseFor><edXML:OrganId>",
        "code_number": "<edXML:CodeNumber>",
        "code_notation": "<edXML:CodeNotation>",
        "code": "<edXML:Code>",
        "promulgation_date": "<edXML:PromulgationDate>",
        "receiver_code": "<edXML:From><edXML:OrganId>",
        "status_code": "<edXML:StatusCode>",
    }.items()
}


def _salvage(text: str, name: str) -> str | None:
    match = _SALVAGE[name].search(text)
    return match.group(1).strip() or None if match else None


def _document_key(document_id: object, sender: object, day: object, code: object) -> str | None:
    """The DocumentId, else its SDK form rebuilt from the parts (sender,date,number/notation)."""
    if document_id:
        return str(document_id)
    if sender and day and code and "/" in str(code) and not str(code).startswith("/"):
        return f"{sender},{day},{code}"
    return None


def _code(number: object, notation: object) -> str | None:
    return f"{number}/{notation}" if number and notation else None


def _status_key(document_id: str | None, receiver: object, status: object) -> str | None:
    if document_id is None:
        return None
    return f"{document_id}|{receiver or ''}|{status or ''}"


def unreadable_key(source: str, text: str) -> str | None:
    """The record key of a line no parser could read, from what is intact in it."""
    if source == MESSAGES_SOURCE:
        return _document_key(
            _salvage(text, "document_id"), _salvage(text, "message_sender"),
            _salvage(text, "promulgation_date"),
            _code(_salvage(text, "code_number"), _salvage(text, "code_notation")),
        )  # fmt: skip
    document_id = _document_key(
        _salvage(text, "document_id"), _salvage(text, "status_sender"),
        _salvage(text, "promulgation_date"), _salvage(text, "code"),
    )  # fmt: skip
    return _status_key(document_id, _salvage(text, "receiver_code"), _salvage(text, "status_code"))


# -- one source of one day ----------------------------------------------------------------------


@dataclass(slots=True)
class Prepared:
    """One source of one daily batch, read and checked, ready to land and load."""

    source: str
    lines: Block
    rows: pl.DataFrame  # valid records, typed as the raw table (receivers as a list column)
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.lines)


def _clean(column: pl.Expr, unescape: bool = True) -> pl.Expr:
    """Text as XML means it: the predefined entities unescaped (the fast path reads raw text;
    the parser already did it), trimmed, '' as null."""
    if unescape:
        column = column.str.replace_many(list(_ENTITIES), list(_ENTITIES.values()))
    value = column.str.strip_chars()
    return pl.when(value == "").then(None).otherwise(value)


_ENTITIES = {"&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&"}


def _clean_text(frame: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    columns = list(columns)
    entities = frame.select(pl.col(c).str.contains("&", literal=True).any() for c in columns)
    return frame.with_columns(
        _clean(pl.col(name), bool(entities[name][0])).alias(name) for name in columns
    )


def _parse_lines(
    source: str, lines: Block, bad_utf8: list[int], fast: pl.DataFrame
) -> tuple[pl.DataFrame, list[Rejection]]:
    """Fields of every readable line (``_i`` = line index): the grammar's, else the parser's;
    and the unreadable lines."""
    is_message = source == MESSAGES_SOURCE
    rejections = []
    for index in bad_utf8:
        text = decode_for_storage(lines.line(index))
        rejections.append(Rejection(unreadable_key(source, text) or lines.location(index),
                                    NOT_UTF8, text))  # fmt: skip
    bad = set(bad_utf8)
    parse = slow_message if is_message else slow_status
    slow_rows: list[dict[str, object]] = []
    for index in fast.filter(~pl.col("_accepted"))["_i"].to_list():
        if index in bad:
            continue
        fields = parse(lines.line(index))
        if isinstance(fields, str):
            text = decode_for_storage(lines.line(index))
            rejections.append(Rejection(unreadable_key(source, text) or lines.location(index),
                                        fields, text))  # fmt: skip
        else:
            slow_rows.append({"_i": index, **fields})
    frame = accepted_fields(fast, source)
    if slow_rows:
        frame = pl.concat([frame, pl.DataFrame(slow_rows, schema=frame.schema)]).sort("_i")
    names = MESSAGE_TAGS if is_message else STATUS_FIELDS
    frame = _clean_text(frame, names)
    if is_message:
        frame = frame.with_columns(pl.col("receivers").list.eval(_clean(pl.element())))
    return frame, rejections


def _parse_date(column: str) -> pl.Expr:
    return pl.col(column).str.strptime(pl.Date, DATE_FORMAT, strict=False)


def _parse_stamp(column: str) -> pl.Expr:
    return pl.col(column).str.strptime(pl.Datetime("us"), STAMP_FORMAT, strict=False)


def _split(
    contract: Contract,
    frame: pl.DataFrame,
    agencies: AgencyDirectory,
    agency_codes: list[tuple[str, pl.DataFrame]],
    checks: list[tuple[pl.Expr, str]] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Contract checks, then agency checks on what passed them: (valid, rejected + _reason)."""
    valid, rejected = contract.split(frame, extra_checks=checks)
    if valid.height == 0:
        return valid, rejected
    problems = [
        agencies.problems(codes.join(valid.select("_i"), on="_i"), what)
        for what, codes in agency_codes
    ]
    why = pl.concat(problems).group_by("_i", maintain_order=True).agg(pl.col("_why").first())
    if why.height:
        flagged = valid.join(why, on="_i", how="left")
        rejected = pl.concat(
            [rejected, flagged.filter(pl.col("_why").is_not_null()).rename({"_why": "_reason"})],
            how="diagonal_relaxed",
        )
        valid = flagged.filter(pl.col("_why").is_null()).drop("_why")
    return valid, rejected


def _rejections(lines: Block, rejected: pl.DataFrame, key: pl.Expr) -> list[Rejection]:
    out = []
    for index, record_key, reason in rejected.select(
        "_i", key.alias("_key"), "_reason"
    ).iter_rows():
        text = decode_for_storage(lines.line(index))
        out.append(Rejection(record_key or lines.location(index), reason, text))
    return out


def _document_key_expr(document_id: str, sender: str, day: str, code: pl.Expr) -> pl.Expr:
    rebuilt = pl.when(
        pl.col(sender).is_not_null() & pl.col(day).is_not_null() & code.is_not_null()
    ).then(pl.format("{},{},{}", pl.col(sender), pl.col(day), code))
    return pl.coalesce(pl.col(document_id), rebuilt)


def prepare_messages(
    lines: Block,
    bad_utf8: list[int],
    fast: pl.DataFrame,
    agencies: AgencyDirectory,
    batch: date,
    pseudonyms: ledger.Pseudonyms,
) -> Prepared:
    """Check a documents file's lines (``fast``: :func:`fast_query`'s result)."""
    frame, rejections = _parse_lines(MESSAGES_SOURCE, lines, bad_utf8, fast)
    day = _parse_date("promulgation_date")
    senders = frame.select("_i", pl.lit(0).alias("_k"), pl.col("sender_code").alias("code"),
                           day.alias("day"))  # fmt: skip
    receivers = (
        frame.select("_i", "receivers", day.alias("day"))
        .with_columns(pl.int_ranges(pl.col("receivers").list.len()).alias("_k"))
        .explode("receivers", "_k")
        .select("_i", (pl.col("_k") + 1).alias("_k"), pl.col("receivers").alias("code"), "day")
    )
    valid, rejected = _split(
        MESSAGE_CONTRACT, frame, agencies,
        [("From OrganId", senders), ("To OrganId", receivers)], MESSAGE_CHECKS,
    )  # fmt: skip
    code = pl.when(
        pl.col("code_number").is_not_null() & pl.col("code_notation").is_not_null()
    ).then(pl.format("{}/{}", pl.col("code_number"), pl.col("code_notation")))
    rejections += _rejections(
        lines, rejected, _document_key_expr("document_id", "sender_code", "promulgation_date", code)
    )
    rows = pseudonyms.replace(valid, "signer_name", "signer_key").select(
        "_i",
        "document_id", "sender_code", "code_number", "code_notation",
        _parse_date("promulgation_date").alias("promulgation_date"),
        pl.col("type_code").cast(pl.Int64, strict=False), "type_name", "subject",
        pl.col("priority").cast(pl.Int64, strict=False),
        pl.col("page_amount").cast(pl.Int64, strict=False),
        _parse_date("due_date").alias("due_date"),
        _parse_stamp("sent_at").alias("sent_at"),
        pl.col("receivers").list.len().cast(pl.Int64).alias("receiver_count"),
        pl.col("is_signed").cast(pl.Boolean),
        pl.col("attachment_count").cast(pl.Int64),
        "signer_key",
        pl.lit(batch, pl.Date).alias("batch_date"),
        "receivers",
    )  # fmt: skip
    return Prepared(MESSAGES_SOURCE, lines, rows, rejections)


def prepare_status(
    lines: Block,
    bad_utf8: list[int],
    fast: pl.DataFrame,
    agencies: AgencyDirectory,
    batch: date,
    pseudonyms: ledger.Pseudonyms,
) -> Prepared:
    """Check a status file's lines (``fast``: :func:`fast_query`'s result)."""
    frame, rejections = _parse_lines(STATUS_SOURCE, lines, bad_utf8, fast)
    receivers = frame.select(
        "_i", pl.lit(1).alias("_k"), pl.col("receiver_code").alias("code"),
        _parse_stamp("status_at").dt.date().alias("day"),
    )  # fmt: skip
    senders = frame.select(
        "_i", pl.lit(0).alias("_k"), pl.col("sender_code").alias("code"),
        _parse_date("promulgation_date").alias("day"),
    )  # fmt: skip
    valid, rejected = _split(
        STATUS_CONTRACT,
        frame,
        agencies,
        [("ResponseFor OrganId", senders), ("From OrganId", receivers)],
    )
    document_id = _document_key_expr("document_id", "sender_code", "promulgation_date",
                                     pl.col("code"))  # fmt: skip
    key_expr = pl.when(document_id.is_not_null()).then(
        pl.format(
            "{}|{}|{}", document_id, pl.col("receiver_code").fill_null(""),
            pl.col("status_code").fill_null(""),
        )
    )  # fmt: skip
    rejections += _rejections(lines, rejected, key_expr)
    rows = pseudonyms.replace(valid, "staff", "handler_key").select(
        "_i", "document_id", "sender_code",
        _parse_date("promulgation_date").alias("promulgation_date"),
        "receiver_code", "status_code", "description",
        _parse_stamp("status_at").alias("status_at"), "handler_key",
        pl.lit(batch, pl.Date).alias("batch_date"),
    )  # fmt: skip
    return Prepared(STATUS_SOURCE, lines, rows, rejections)


def _register_frame(
    lines: Block, texts: pa.Array, good: list[int]
) -> tuple[pl.DataFrame, list[int]]:
    """Register rows as text columns (``_i`` = line index), and the lines not 15 CSV fields."""
    frame = None
    if good:
        kept = lines.lines if len(good) == len(lines) else lines.lines.take(pa.array(good))
        # The rows joined again in Arrow (no Python string per row) for polars' CSV reader.
        newline = pa.scalar(b"\n", pa.large_binary())
        body = pc.binary_join(pa.LargeListArray.from_arrays([0, len(kept)], kept), newline)
        try:
            frame = pl.read_csv(
                io.BytesIO(body[0].as_buffer()), has_header=False,
                new_columns=list(REGISTER_COLUMNS),
                schema={c: pl.String for c in REGISTER_COLUMNS}, quote_char='"',
            )  # fmt: skip
        except (pl.exceptions.ComputeError, pl.exceptions.NoDataError):
            frame = None
        if frame is not None and (
            frame.height != len(good) or frame[REGISTER_COLUMNS[-1]].null_count()
        ):
            frame = None  # a quoted newline or a short row: read the lines one by one
    if frame is not None or not good:
        frame = (
            frame
            if frame is not None
            else pl.DataFrame(schema={c: pl.String for c in REGISTER_COLUMNS})
        )
        return frame.with_columns(_i=pl.Series(good, dtype=pl.Int64)).with_columns(
            [pl.when(pl.col(c) == "").then(None).otherwise(pl.col(c)).alias(c)
             for c in REGISTER_COLUMNS]
        ), []  # fmt: skip
    strings = texts.to_pylist()
    rows, ragged = [], []
    for index in good:
        fields = next(csv.reader([strings[index]]), [])
        if len(fields) != len(REGISTER_COLUMNS):
            ragged.append(index)
        else:
            rows.append([f or None for f in fields] + [index])
    frame = pl.DataFrame(
        rows, schema={**{c: pl.String for c in REGISTER_COLUMNS}, "_i": pl.Int64}, orient="row"
    )
    return frame, ragged


def prepare_register(
    lines: Block,
    texts: pa.Array,
    bad_utf8: list[int],
    header: bytes | None,
    agencies: AgencyDirectory,
    batch: date,
) -> Prepared:
    columns = tuple(next(csv.reader([decode_for_storage(header or b"")]), []))
    if columns != REGISTER_COLUMNS:
        raise SourceError(
            f"documents: {lines.origin} has the header {','.join(columns)!r}, "
            f"expected {','.join(REGISTER_COLUMNS)!r}"
        )
    bad = set(bad_utf8)
    frame, ragged = _register_frame(lines, texts, [i for i in range(len(lines)) if i not in bad])
    rejections = []
    for index in bad_utf8:
        text = decode_for_storage(lines.line(index))
        rejections.append(
            Rejection(_register_salvage(text) or lines.location(index), NOT_UTF8, text)
        )
    for index in ragged:
        text = decode_for_storage(lines.line(index))
        reason = f"not a register row of {len(REGISTER_COLUMNS)} CSV fields"
        rejections.append(Rejection(_register_salvage(text) or lines.location(index), reason, text))
    frame = frame.with_columns(receivers=pl.col("receiver_codes").str.split(";"))
    day = _parse_date("promulgation_date")
    senders = frame.select("_i", pl.lit(0).alias("_k"), pl.col("sender_code").alias("code"),
                           day.alias("day"))  # fmt: skip
    receivers = (
        frame.select("_i", "receivers", day.alias("day"))
        .with_columns(pl.int_ranges(pl.col("receivers").list.len()).alias("_k"))
        .explode("receivers", "_k")
        .select("_i", (pl.col("_k") + 1).alias("_k"), pl.col("receivers").alias("code"), "day")
    )
    valid, rejected = _split(
        REGISTER_CONTRACT, frame, agencies,
        [("sender_code", senders), ("receiver_codes", receivers)], REGISTER_CHECKS,
    )  # fmt: skip
    code = pl.when(
        pl.col("code_number").is_not_null() & pl.col("code_notation").is_not_null()
    ).then(pl.format("{}/{}", pl.col("code_number"), pl.col("code_notation")))
    rejections += _rejections(
        lines, rejected, _document_key_expr("document_id", "sender_code", "promulgation_date", code)
    )
    flag = {"0": False, "1": True}
    rows = valid.select(
        "_i", "document_id", "code_number", "code_notation", "sender_code", "receiver_codes",
        pl.col("receiver_count").cast(pl.Int64, strict=False),
        pl.col("type_code").cast(pl.Int64, strict=False), "type_name",
        _parse_date("promulgation_date").alias("promulgation_date"),
        _parse_stamp("sent_at").alias("sent_at"),
        pl.col("priority").cast(pl.Int64, strict=False),
        pl.col("page_amount").cast(pl.Int64, strict=False),
        *[pl.col(c).replace_strict(flag, return_dtype=pl.Boolean)
          for c in ("is_electronic", "is_signed", "is_secret")],
        pl.lit(batch, pl.Date).alias("batch_date"),
    )  # fmt: skip
    return Prepared(REGISTER_SOURCE, lines, rows, rejections)


def _register_salvage(text: str) -> str | None:
    """The document_id of a register row that could not be read (first quoted field)."""
    fields = next(csv.reader([text]), [])
    return fields[0] or None if fields else None


# -- one day ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Day:
    day: date
    directory: Path
    sources: tuple[str, ...]  # the sources whose watermark is before this day


@dataclass(slots=True)
class PreparedDay:
    day: date
    parts: dict[str, Prepared]


def prepare_day(
    day: Day,
    agencies: AgencyDirectory,
    pseudonyms: ledger.Pseudonyms,
    export_root: Path,
    land: Callable[[str, pa.Table], object] | None = None,
) -> PreparedDay:
    """Read, land, parse and check one daily batch (no warehouse access: runs in a worker
    thread, so the main thread loads the previous day meanwhile)."""
    parts: dict[str, Prepared] = {}
    read: dict[str, tuple[Block, bytes | None, pa.Array, list[int]]] = {}
    for source in day.sources:
        path = day.directory / FILES[source]
        origin = f"{export_root.name}/{day.directory.name}/{FILES[source]}"
        lines, header = read_lines(path, origin, skip_header=source == REGISTER_SOURCE)
        table = landing.lines_table(lines.lines, origin, lines.numbers)
        if land:  # as read, before anything is loaded
            land(source, table)
        texts, bad_utf8 = utf8_column(lines.lines)  # the landed payload, not a copy of it
        read[source] = (lines, header, texts, bad_utf8)
    xml = [s for s in (MESSAGES_SOURCE, STATUS_SOURCE) if s in read]
    fast = pl.collect_all(
        [
            fast_query(
                pl.Series("line", read[s][2]), s, accepted_lines(read[s][0].lines, read[s][3], s)
            )
            for s in xml
        ]
    )
    for source, frame in zip(xml, fast, strict=True):
        lines, _, _, bad_utf8 = read[source]
        prepare = prepare_messages if source == MESSAGES_SOURCE else prepare_status
        parts[source] = prepare(lines, bad_utf8, frame, agencies, day.day, pseudonyms)
    if REGISTER_SOURCE in read:
        lines, header, texts, bad_utf8 = read[REGISTER_SOURCE]
        parts[REGISTER_SOURCE] = prepare_register(lines, texts, bad_utf8, header, agencies, day.day)
    return PreparedDay(day.day, parts)


def out_of_order(rows: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """Statuses timestamped before an earlier stage of the same receiver and document.

    Returns ``_i`` and ``_reason`` of the offending rows of ``rows`` (compared with each other
    and with ``history``, the statuses already loaded that could be later than them).
    """
    stage = pl.col("status_code").replace_strict(STAGE, default=None, return_dtype=pl.Int8)
    keys = ["document_id", "receiver_code"]
    mine = rows.select("_i", *keys, "status_code", "status_at").with_columns(_stage=stage)
    others = pl.concat(
        [
            rows.select(*keys, "status_code", "status_at"),
            history.select(*keys, "status_code", "status_at"),
        ]
    ).with_columns(_stage=stage)
    pairs = (
        mine.filter(pl.col("_stage").is_not_null())
        .join(others.filter(pl.col("_stage").is_not_null()), on=keys, suffix="_earlier")
        .filter(
            (pl.col("_stage_earlier") < pl.col("_stage"))
            & (pl.col("status_at_earlier") > pl.col("status_at"))
        )
        .sort("_i", "_stage_earlier", "status_at_earlier")
        .group_by("_i", maintain_order=True)
        .first()
    )
    return pairs.select(
        "_i",
        pl.format(
            "out of order: status {} at {} comes before the same receiver's earlier status {} "
            "at {}",
            pl.col("status_code"),
            pl.col("status_at").dt.strftime(STAMP_FORMAT),
            pl.col("status_code_earlier"),
            pl.col("status_at_earlier").dt.strftime(STAMP_FORMAT),
        ).alias("_reason"),
    )


def latest_status(warehouse: Warehouse) -> datetime | None:
    """The latest status time loaded so far (None when there is none)."""
    return warehouse.fetch(f"select max(status_at) from {STATUS_TABLE.name}")[0][0]


def _status_history(
    warehouse: Warehouse, rows: pl.DataFrame, latest: datetime | None
) -> pl.DataFrame:
    """Loaded statuses of the batch's receivers and documents timestamped at or after the
    earliest status of the batch: none when the batch starts after the ``latest`` loaded
    (batches come in time order, so that is the rule and the lookup the exception)."""
    empty = pl.DataFrame(
        schema={
            "document_id": pl.String,
            "receiver_code": pl.String,
            "status_code": pl.String,
            "status_at": pl.Datetime("us"),
        }
    )
    if rows.height == 0 or latest is None or rows["status_at"].min() > latest:
        return empty
    keys = rows.select("document_id", "receiver_code").unique().to_arrow()
    with warehouse.staged(keys, STATUS_TABLE.name) as staged:
        found = warehouse.fetch(
            f"select s.document_id, s.receiver_code, s.status_code, s.status_at "
            f"from {STATUS_TABLE.name} s join {staged} k "
            "on s.document_id = k.document_id and s.receiver_code = k.receiver_code "
            "where s.status_at >= ?",
            [rows["status_at"].min()],
        )
    if not found:
        return empty
    return pl.DataFrame(found, schema=empty.schema, orient="row")


def _arrow(rows: pl.DataFrame, table: RawTable) -> pa.Table:
    return rows.select([f.name for f in table.schema]).to_arrow().cast(table.schema)


@dataclass(slots=True)
class LoadState:
    """What a run knows of the warehouse between days."""

    latest_status: datetime | None  # the latest status_at loaded


def load_day(
    warehouse: Warehouse, run_id: str, prepared: PreparedDay, state: LoadState
) -> dict[str, RunCounts]:
    """Load one prepared day; call inside a transaction (with the watermarks and run counts)."""
    counts: dict[str, RunCounts] = {}
    for source, part in prepared.parts.items():
        rejections = list(part.rejections)
        rows = part.rows
        if source == STATUS_SOURCE and rows.height:
            history = _status_history(warehouse, rows, state.latest_status)
            late = out_of_order(rows, history)
            if late.height:
                flagged = rows.join(late, on="_i", how="left")
                for index, document_id, receiver, status, reason in (
                    flagged.filter(pl.col("_reason").is_not_null())
                    .select("_i", "document_id", "receiver_code", "status_code", "_reason")
                    .iter_rows()
                ):
                    rejections.append(
                        Rejection(
                            f"{document_id}|{receiver}|{status}",
                            reason,
                            decode_for_storage(part.lines.line(index)),
                        )
                    )
                rows = flagged.filter(pl.col("_reason").is_null()).drop("_reason")
        table = {REGISTER_SOURCE: REGISTER_TABLE, MESSAGES_SOURCE: MESSAGES_TABLE,
                 STATUS_SOURCE: STATUS_TABLE}[source]  # fmt: skip
        counts[source] = load_batch(
            warehouse, run_id, source, table, _arrow(rows, table), rejections, part.read
        )
        if source == STATUS_SOURCE and rows.height:
            newest = rows["status_at"].max()
            if state.latest_status is None or newest > state.latest_status:
                state.latest_status = newest
        if source == MESSAGES_SOURCE and rows.height:
            receivers = (
                rows.select("document_id", "sent_at", "batch_date", "receivers")
                .with_columns(position=pl.int_ranges(1, pl.col("receivers").list.len() + 1))
                .explode("receivers", "position")
                .rename({"receivers": "receiver_code"})
            )
            load_batch(
                warehouse, run_id, source, RECEIVERS_TABLE, _arrow(receivers, RECEIVERS_TABLE),
                [], receivers.height,
            )  # fmt: skip
    return counts


# -- the run ------------------------------------------------------------------------------------


def batch_days(root: Path) -> list[tuple[date, Path]]:
    """The daily batch directories under ``root``, in date order."""
    if not root.exists():
        raise SourceError(f"documents: the export directory {root} does not exist")
    days = []
    for path in root.iterdir():
        if path.is_dir() and path.name.startswith(BATCH_PREFIX):
            try:
                days.append((date.fromisoformat(path.name.removeprefix(BATCH_PREFIX)), path))
            except ValueError:
                continue
    return sorted(days)


def agencies_path(settings: Settings) -> Path:
    """The agency directory dropped beside the document exports (``reference/agencies.csv``)."""
    return settings.documents_export_dir.parent / AGENCIES_FILE


def ensure_tables(warehouse: Warehouse) -> None:
    ledger.ensure_ops_schema(warehouse)
    for table in RAW_TABLES:
        table.ensure(warehouse)
    if warehouse.dialect == "postgres":  # the loader looks versions up by key: index them
        for table in RAW_TABLES:
            name = table.name.split(".")[1]
            columns = ", ".join(f'"{c}"' for c in table.key)
            warehouse.execute(f"create index if not exists {name}__key on {table.name} ({columns})")
        warehouse.execute(
            f"create index if not exists documents__status__at on {STATUS_TABLE.name} (status_at)"
        )


def ingest_documents(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str | None = None,
    *,
    agencies: Path | None = None,
    on_day: Callable[[date, dict[str, RunCounts]], None] | None = None,
) -> list[IngestResult]:
    """Load the daily batches after each source's watermark; one result per source."""
    with one_thread_per_statement(warehouse):  # days are read and checked beside the loads
        return _ingest_days(settings, warehouse, run_id or ledger.new_run_id(), agencies, on_day)


def _ingest_days(
    settings: Settings,
    warehouse: Warehouse,
    run_id: str,
    agencies: Path | None,
    on_day: Callable[[date, dict[str, RunCounts]], None] | None,
) -> list[IngestResult]:
    started = time.monotonic()
    root = settings.documents_export_dir
    ensure_tables(warehouse)
    watermarks = {s: ledger.read_watermark(warehouse, s) for s in SOURCES}
    results = {s: IngestResult(s, run_id, "running", watermark_from=watermarks[s]) for s in SOURCES}
    for source in SOURCES:
        ledger.start_run(warehouse, run_id, source, watermarks[source])
    executor = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="documents-reader")
    pending: list[Future[PreparedDay]] = []
    try:
        directory = AgencyDirectory.read(agencies or agencies_path(settings))
        state = LoadState(latest_status(warehouse))
        pseudonyms = ledger.Pseudonyms(settings.pii_key())
        days, message = [], None
        for day, path in batch_days(root):
            sources = tuple(
                s for s in SOURCES if watermarks[s] is None or watermarks[s] < f"{day:%Y-%m-%d}"
            )
            if not sources:
                continue
            missing = [FILES[s] for s in sources if not (path / FILES[s]).exists()]
            if missing:  # the system is still writing this batch: stop before it
                message = f"stopped before {path.name}: no {', '.join(missing)} yet"
                break
            days.append(Day(day, path, sources))
        ahead = READERS + 1  # days read and checked ahead of the one being loaded

        def prepare(position: int) -> Future[PreparedDay]:
            def land(source: str, table: pa.Table) -> object:
                return landing.land(settings, source, run_id, position, table)

            return executor.submit(prepare_day, days[position], directory, pseudonyms, root, land)

        pending = [prepare(position) for position in range(min(ahead, len(days)))]
        for position, day in enumerate(days):
            prepared = pending.pop(0).result()
            if position + ahead < len(days):
                pending.append(prepare(position + ahead))
            stamp = f"{day.day:%Y-%m-%d}"
            with warehouse.transaction():
                counts = load_day(warehouse, run_id, prepared, state)
                for source, count in counts.items():
                    ledger.write_watermark(warehouse, source, stamp)
                    ledger.add_to_run(warehouse, run_id, source, count, stamp)
            for source, count in counts.items():
                results[source].counts.add(count)
                results[source].watermark_to = stamp
            if on_day:
                on_day(day.day, counts)
    except BaseException as error:
        for future in pending:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)
        for source in SOURCES:
            ledger.finish_run(warehouse, run_id, source, "failed", str(error)[:1000])
            results[source].status = "failed"
        raise
    executor.shutdown(wait=True)
    seconds = time.monotonic() - started
    for source in SOURCES:
        ledger.finish_run(warehouse, run_id, source, "success", message)
        results[source].status = "success"
        results[source].watermark_to = results[source].watermark_to or watermarks[source]
        results[source].seconds = seconds
    return [results[s] for s in SOURCES]
