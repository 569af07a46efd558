"""The province's document management system: official documents exchanged between agencies.

Electronic documents travel between agencies as **edXML messages** (QCVN 102:2016/BTTTT,
amended 2022; namespace ``http://www.mic.gov.vn/TBT/QCVN_102_2016``, prefix ``edXML``) and
every receiver answers with edXML **status messages**. Paper and secret (``Mật``) documents
never travel as edXML: they only appear in the sending system's register of outgoing
documents, exported with each batch so that the electronic share can be computed.

Output, one directory per calendar day of the window (holidays included: a day with nothing
to deliver has files with no message, the register its header only)::

    out/documents/date=YYYY-MM-DD/register.csv.gz      documents promulgated that day
    out/documents/date=YYYY-MM-DD/documents.edxml.zip  edXML documents sent that day
    out/documents/date=YYYY-MM-DD/status.edxml.zip     status messages timestamped that day
    out/faults/documents.{messages,status,register}.jsonl    injected faults (fault_rate > 0)

**Container format.** By default (``container="zip"``) each message is a file of its own, as
the document exchange delivers it: a daily zip of ``.edxml`` entries, pretty-printed, with the
namespace prefix of the sender's software and its attachments as wrapped base64
(:mod:`simulator.edxml_files`); ``container="folder"`` writes the same files into a daily
folder (``documents/``, ``status/``). The messages below are shown as the generator makes
them; every container holds the same ones. ``container="lines"`` writes the line-packed form
(``documents.edxml.lines.gz``, ``status.edxml.lines.gz``) described next.

``*.edxml.lines.gz`` hold one complete edXML message per line: each line
is a UTF-8 XML document of its own, starting with its XML declaration, ending with ``\n``, with
no raw newline inside; a reader streams the file and parses each line alone. An axis delivers
one file per message, but millions of tiny files (or zip entries, ~18 µs each) are far too slow
to write and read. Every file is gzip-compressed (RFC 1952, no name and no time in the header,
so reproducible; read it with :mod:`gzip`, DuckDB reads ``register.csv.gz`` as it is): a
province-year is ~16 GB of XML, which this kind of machine's disk cannot take in a minute,
and ~1.3 GB compressed. The deflate is ISA-L's (package ``isal``) when installed, five times
faster than zlib's, otherwise zlib's: the bytes of the files depend on which (the lines do not),
so byte-identical output for a seed holds with the same compressor. A line spoiled by a fault
may be unparseable or not UTF-8; the rest of its file is unaffected.

Status messages go into the batch of the day of their ``Timestamp`` (a document sent on Monday
and completed on Friday has its ``06`` in Friday's batch), in generation order, not sorted by
time within the file. Nothing timestamped after ``end`` is emitted, and the statuses of
documents exchanged between pre-merger agencies stop on 30 June 2025, when those agencies and
their systems ceased.

**Document message** (one line; shown indented)::

    <?xml version="1.0" encoding="utf-8"?>
    <edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
      <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
        <edXML:edXMLHeader>
          <edXML:MessageHeader>
            <edXML:From> OrganId, OrganizationInCharge, OrganName, OrganAdd, Email,
                         Telephone </edXML:From>
            <edXML:To> OrganId, OrganName </edXML:To>          one per receiver
            <edXML:Code> CodeNumber (123), CodeNotation (UBND-VP, QĐ-UBND) </edXML:Code>
            <edXML:PromulgationInfo> Place, PromulgationDate (yyyy/MM/dd) </...>
            <edXML:DocumentType> Type, TypeDetail, TypeName </edXML:DocumentType>
            <edXML:Subject/> <edXML:Content/>
            <edXML:SignerInfo> Competence, Position, FullName </edXML:SignerInfo>
            <edXML:DueDate/>                                    yyyy/MM/dd or empty
            <edXML:OtherInfo> Priority, TyperNotation, PromulgationAmount,
                              PageAmount </edXML:OtherInfo>
            <edXML:SteeringType/>
            <edXML:DocumentId/>
          </edXML:MessageHeader>
          <edXML:TraceHeaderList>
            <edXML:TraceHeader> OrganId, Timestamp (yyyy/MM/dd HH:mm:ss, sending time) </...>
            <edXML:Bussiness> BussinessDocType, BussinessDocReason, Paper, StaffInfo </...>
          </edXML:TraceHeaderList>
          <Signature xmlns="http://www.w3.org/2000/09/xmldsig#"> ... </Signature>  signed only
        </edXML:edXMLHeader>
        <edXML:edXMLBody>
          <edXML:edXMLManifest version="1.0">
            <edXML:Reference xlink:href="cid:..."> ContentId, ContentType, Description,
                                                   AttachmentName </edXML:Reference>
          </edXML:edXMLManifest>
        </edXML:edXMLBody>
      </edXML:edXMLEnvelope>
      <AttachmentEncoded><Attachment> ContentType, ContentId, Description,
        ContentTransferEncoded (base64 of a tiny placeholder PDF), AttachmentName
      </Attachment></AttachmentEncoded>
    </edXML>

The ``<edXML>`` wrapper with ``AttachmentEncoded`` beside the envelope is the file layout of
the national document axis SDK (``.edxml`` files): a reader should find ``edXMLEnvelope`` by
path, not assume it is the root. ``Bussiness`` is spelled as in the SDK. ``Type`` is the
ordinal of the kind in Decree 30/2020 appendix III (2 Quyết định, 7 Thông báo, 8 Hướng dẫn,
10 Kế hoạch, 14 Báo cáo, 16 Tờ trình, 18 Công văn (the SDK's default), 23 Giấy mời),
``TypeDetail`` 0. ``Priority``: 0 normal, 1 Khẩn, 2 Thượng khẩn, 3 Hỏa tốc. The XML-DSig
``Signature`` carries placeholder digest and signature values; an unsigned electronic document
has none.

**DocumentId** takes the SDK's form
``<sender OrganId>,<PromulgationDate>,<CodeNumber>/<CodeNotation>``, e.g.
``000.00.01.H37,2025/07/15,123/UBND-VP``. Each agency numbers its documents from 1 every
1 January (the merged province's new agencies from 1 on 1 July 2025; a window starting
mid-year continues an estimated count), so DocumentIds are unique even where the merger reused
an agency code.

**Status message** (one line)::

    <?xml version="1.0" encoding="utf-8"?>
    <edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
      <edXML:edXMLHeader><edXML:Status>
        <edXML:ResponseFor> OrganId (the sender), Code (123/UBND-VP), PromulgationDate,
                            DocumentId </edXML:ResponseFor>
        <edXML:From> OrganId, OrganName </edXML:From>     the receiver answering
        <edXML:StatusCode/> <edXML:Description/> <edXML:Timestamp/> (yyyy/MM/dd HH:mm:ss)
        <edXML:StaffInfo> Department, Staff (an account of the receiver) </edXML:StaffInfo>
      </edXML:Status></edXML:edXMLHeader><edXML:edXMLBody/>
    </edXML:edXMLEnvelope>

Each receiver sends ``01`` (arrived) within minutes of the sending, the same day; then ``03``
(accepted) or ``02`` (rejected, ~2%), the same day for most receivers and the next working
days for the others, with a share that depends on the agency kind, improves over time and dips
after the 1 July 2025 merger (:func:`same_day_acceptance`); then ``04`` (assigned), ``05`` (in
process) and ``06`` (completed) for about half of the first receivers (the one expected to
act) and a few of the others (copies, broadcasts to communes).

**Register** (``register.csv.gz``, UTF-8, ``\n`` line ends, a header, one row per document):
``document_id`` (always double-quoted: it contains commas), ``code_number``,
``code_notation``, ``sender_code``, ``receiver_codes`` (``;``-separated), ``receiver_count``,
``type_code``, ``type_name``, ``promulgation_date`` (yyyy/MM/dd), ``sent_at``
(yyyy/MM/dd HH:mm:ss), ``priority``, ``page_amount``, ``is_electronic``, ``is_signed``,
``is_secret`` (0/1). Secret documents are never electronic, paper ones never digitally signed;
each electronic row has exactly one message in the same day's ``documents.edxml.lines.gz``.

**Faults** (``fault_rate`` > 0): at most one per record, each listed in the manifest with its
record key (the DocumentId; ``DocumentId|receiver OrganId|StatusCode`` for a status) and the
file it is in. ``broken_xml`` (a closing tag removed), ``truncated_xml`` (the line cut
midway), ``wrong_encoding`` (the line in Windows-1258), ``missing_field`` (no ``DocumentId``
or no ``From``; in the register an empty ``document_id`` or ``sender_code``),
``impossible_date`` (``2025/02/30``), ``malformed_date`` (``15-07-2025``), ``unknown_unit``
(a ``To`` OrganId, a status's ``From`` OrganId or a register receiver that is in no agency
list), ``duplicate`` (the line twice), ``out_of_order_event`` (a ``06`` timestamped before the
receiver's ``01``, in the batch of the ``01``) and ``absurd_value`` (``PageAmount`` 10^9).
The register gets no XML faults, the status messages no absurd value.

**Volume**: scale 1 is one merged province-year, ~2,000,000 documents (~8,000 a working day,
a few on weekends, none on holidays) and ~9 million status messages. Counts per month:
``documents.messages`` (edXML documents), ``documents.status`` (status messages) and
``documents.register`` (register rows), each record once (a duplicated line counts once), in
the month of its batch.
"""

from __future__ import annotations

import math
import queue
import random
import threading
import time
import unicodedata
from base64 import b64encode
from bisect import bisect_right
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, timedelta
from io import BufferedWriter
from itertools import accumulate
from pathlib import Path
from xml.sax.saxutils import escape

from simulator.agencies import Agency
from simulator.calendar import WorkingCalendar
from simulator.counts import MonthlyCounts
from simulator.edxml_files import (
    CONTAINERS,
    PACKAGE_NAMES,
    FolderPackages,
    Packager,
    ZipPackages,
    package_name,
)
from simulator.faults import (
    ABSURD_VALUE,
    BROKEN_XML,
    DUPLICATE,
    IMPOSSIBLE_DATE,
    MALFORMED_DATE,
    MISSING_FIELD,
    OUT_OF_ORDER_EVENT,
    TRUNCATED_XML,
    UNKNOWN_UNIT,
    WRONG_ENCODING,
    FaultInjector,
)
from simulator.units import MERGER_DATE, Region

try:  # ISA-L's deflate: the same gzip format, about five times faster than zlib
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - depends on the environment
    import zlib as _zlib

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XLINK_NS = "http://www.w3.org/1999/xlink"

MESSAGES = "documents.messages"
STATUS = "documents.status"
REGISTER = "documents.register"
SOURCES = (MESSAGES, STATUS, REGISTER)

DOCUMENTS_FILE = "documents.edxml.lines.gz"
STATUS_FILE = "status.edxml.lines.gz"
REGISTER_FILE = "register.csv.gz"
REGISTER_COLUMNS = (
    "document_id", "code_number", "code_notation", "sender_code", "receiver_codes",
    "receiver_count", "type_code", "type_name", "promulgation_date", "sent_at", "priority",
    "page_amount", "is_electronic", "is_signed", "is_secret",
)  # fmt: skip

DOCUMENTS_PER_YEAR_AT_SCALE_1 = 2_000_000

ARRIVED, REJECTED, ACCEPTED, ASSIGNED, IN_PROCESS, COMPLETED = "01", "02", "03", "04", "05", "06"
STATUS_DESCRIPTIONS = {
    ARRIVED: "Đã đến",
    REJECTED: "Từ chối tiếp nhận",
    ACCEPTED: "Đã tiếp nhận",
    ASSIGNED: "Đã phân công xử lý",
    IN_PROCESS: "Đang xử lý",
    COMPLETED: "Đã hoàn thành",
}

MESSAGE_FAULTS = (BROKEN_XML, TRUNCATED_XML, WRONG_ENCODING, MISSING_FIELD, IMPOSSIBLE_DATE,
                  MALFORMED_DATE, UNKNOWN_UNIT, DUPLICATE, ABSURD_VALUE)  # fmt: skip
STATUS_FAULTS = (BROKEN_XML, TRUNCATED_XML, WRONG_ENCODING, MISSING_FIELD, IMPOSSIBLE_DATE,
                 MALFORMED_DATE, UNKNOWN_UNIT, DUPLICATE)  # fmt: skip
# Completion events are the ones that arrive out of order: half the faults of a 06.
COMPLETED_FAULTS = (*STATUS_FAULTS, *[OUT_OF_ORDER_EVENT] * len(STATUS_FAULTS))
REGISTER_FAULTS = (WRONG_ENCODING, MISSING_FIELD, IMPOSSIBLE_DATE, MALFORMED_DATE, UNKNOWN_UNIT,
                   DUPLICATE, ABSURD_VALUE)  # fmt: skip
ABSURD_PAGES = 1_000_000_000


@dataclass(frozen=True, slots=True)
class DocumentKind:
    type_code: int  # ordinal in Decree 30/2020 appendix III
    name: str
    abbreviation: str  # empty for Công văn, whose notation names the drafting unit instead
    subjects: tuple[str, ...]  # subject templates; {topic} is replaced


KINDS = (
    DocumentKind(18, "Công văn", "", ("V/v {topic}", "V/v triển khai {topic}",
                                      "V/v góp ý dự thảo về {topic}", "V/v báo cáo {topic}")),
    DocumentKind(2, "Quyết định", "QĐ", ("Về việc phê duyệt {topic}", "Về việc ban hành {topic}",
                                         "Về việc giao nhiệm vụ {topic}")),
    DocumentKind(16, "Tờ trình", "TTr", ("Đề nghị phê duyệt {topic}", "Về việc {topic}")),
    DocumentKind(14, "Báo cáo", "BC", ("Báo cáo kết quả {topic}", "Báo cáo tình hình {topic}")),
    DocumentKind(7, "Thông báo", "TB", ("Thông báo kết luận về {topic}",
                                        "Thông báo về {topic}")),
    DocumentKind(10, "Kế hoạch", "KH", ("Kế hoạch thực hiện {topic}",
                                        "Kế hoạch kiểm tra {topic}")),
    DocumentKind(23, "Giấy mời", "GM", ("Mời dự họp về {topic}", "Mời dự hội nghị {topic}")),
    DocumentKind(8, "Hướng dẫn", "HD", ("Hướng dẫn thực hiện {topic}",)),
)  # fmt: skip
# Share of each kind in what each kind of agency sends (same order as KINDS).
KIND_WEIGHTS = {
    "province_committee": (45, 20, 0, 5, 12, 8, 6, 4),
    "department": (52, 6, 12, 12, 4, 5, 6, 3),
    "service_centre": (60, 2, 8, 20, 4, 2, 4, 0),
    "district_committee": (50, 10, 10, 14, 6, 4, 6, 0),
    "commune_committee": (50, 4, 14, 24, 3, 2, 3, 0),
}
TOPICS = (
    "chuyển đổi số năm 2025", "cải cách hành chính", "phòng chống thiên tai",
    "xây dựng nông thôn mới", "giải ngân vốn đầu tư công", "quản lý đất đai",
    "bảo vệ môi trường", "an toàn thông tin mạng",
    "dịch vụ công trực tuyến", "thu ngân sách nhà nước", "phòng cháy chữa cháy",
    "sắp xếp đơn vị hành chính", "tuyển dụng công chức", "bảo hiểm xã hội",
    "an toàn vệ sinh thực phẩm", "phòng chống dịch bệnh", "kỳ thi tốt nghiệp trung học phổ thông",
    "giảm nghèo bền vững", "quy hoạch xây dựng", "trật tự an toàn giao thông", "khiếu nại, tố cáo",
    "thi đua khen thưởng", "công tác dân tộc, tôn giáo", "phát triển du lịch", "xúc tiến đầu tư",
    "số hóa hồ sơ, kết quả giải quyết thủ tục hành chính", "lưu trữ hồ sơ điện tử",
    "tiếp công dân", "kiểm soát thủ tục hành chính", "hỗ trợ doanh nghiệp nhỏ và vừa",
)  # fmt: skip
TYPER_NOTATIONS = ("VT", "TH", "NV", "HC", "TCHC")
# Code notations, encoded and folded to ASCII (attachment names), filled as agencies are built.
NOTATION_B: dict[str, bytes] = {}
NOTATION_ASCII: dict[str, str] = {}
DEPARTMENT_ABBREVIATIONS = {
    "Văn phòng Ủy ban nhân dân": "VPUBND", "Sở Nội vụ": "SNV", "Sở Tài chính": "STC",
    "Sở Tư pháp": "STP", "Sở Công Thương": "SCT", "Sở Nông nghiệp và Môi trường": "SNNMT",
    "Sở Xây dựng": "SXD", "Sở Giáo dục và Đào tạo": "SGDĐT", "Sở Y tế": "SYT",
    "Sở Văn hóa, Thể thao và Du lịch": "SVHTTDL", "Sở Khoa học và Công nghệ": "SKHCN",
    "Thanh tra tỉnh": "TTT", "Sở Dân tộc và Tôn giáo": "SDTTG", "Sở Ngoại vụ": "SNgV",
}  # fmt: skip
FAMILY_NAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô", "Đinh")
MIDDLE_NAMES = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quang", "Xuân")
GIVEN_NAMES = ("An", "Bình", "Cường", "Dũng", "Hà", "Hùng", "Lan", "Long", "Mai", "Nam", "Sơn",
               "Thắng", "Tuấn", "Hương", "Quân")  # fmt: skip
ATTACHMENT_B64 = b64encode(
    b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
).decode()

XML_DECL = '<?xml version="1.0" encoding="utf-8"?>'
DOC_OPEN = (
    f'{XML_DECL}<edXML xmlns="{NS}"><edXML:edXMLEnvelope xmlns:edXML="{NS}">'
    "<edXML:edXMLHeader><edXML:MessageHeader>"
)
STATUS_OPEN = f'{XML_DECL}<edXML:edXMLEnvelope xmlns:edXML="{NS}"><edXML:edXMLHeader><edXML:Status>'
STATUS_CODE_XML = {
    code: f"<edXML:StatusCode>{code}</edXML:StatusCode>"
    f"<edXML:Description>{escape(text)}</edXML:Description><edXML:Timestamp>"
    for code, text in STATUS_DESCRIPTIONS.items()
}
STATUS_CLOSE = "</edXML:Status></edXML:edXMLHeader><edXML:edXMLBody/></edXML:edXMLEnvelope>\n"
SIGNATURE_OPEN = (
    f'<Signature xmlns="{DSIG_NS}"><SignedInfo>'
    '<CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>'
    '<SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
    '<Reference URI=""><Transforms>'
    '<Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
    '</Transforms><DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
    "<DigestValue>"
)
PRIORITY_TABLE = (0,) * 88 + (1,) * 8 + (2,) * 3 + (3,)
PAGE_TABLE = (1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30)
DUE_IN_WORKING_DAYS = (3, 5, 5, 7, 10, 10, 15, 20)

DAY = 86_400
MORNING, NOON, AFTERNOON, EVENING = 27_000, 41_400, 48_600, 61_200  # 7:30 11:30 13:30 17:00
LATE = 72_000  # 20:00: nobody accepts a document after that
HORIZON_DAYS = 150  # working-day lookups past the window (due dates, later statuses)
FLUSH_EVERY = 64  # documents between two looks at the buffered lines
FLUSH_LINES = 256  # lines buffered per file before they are handed to the writer


def _slug(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    plain = "".join(c for c in unicodedata.normalize("NFD", text) if c.isascii())
    return "".join(c for c in plain.lower() if c.isalnum())


def _short_place(name: str) -> str:
    for prefix in ("Thành phố ", "Tỉnh ", "Thị xã ", "Thị trấn ", "Đặc khu ", "Huyện ",
                   "Quận ", "Phường ", "Xã "):  # fmt: skip
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


_TONE_MARKS = "\u0300\u0301\u0303\u0309\u0323"


def to_windows_1258(text: str) -> bytes:
    """``text`` as a Vietnamese Windows-1258 system writes it (base letter + tone mark)."""
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        decomposed = unicodedata.normalize("NFD", char)
        tones = "".join(c for c in decomposed if c in _TONE_MARKS)
        base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in _TONE_MARKS))
        out += (base + tones).encode("cp1258", errors="replace")
    return bytes(out)


@dataclass(slots=True, eq=False)
class _Party:
    """An agency as the generator uses it, with its XML fragments precomputed."""

    agency: Agency
    group: int  # the old province it belongs to (0 for the merged province)
    abbreviation: str
    units: tuple[str, ...]  # drafting units, for the notation of a Công văn
    kind_cum: list[float]
    notations: list[tuple[str, ...]] = field(default_factory=list)
    from_xml: str = ""
    to_xml: str = ""
    place_xml: str = ""
    status_from_xml: str = ""
    business_xml: tuple[str, ...] = ()
    signers: tuple[str, ...] = ()
    signature_tail: str = ""
    clerks: tuple[str, ...] = ()  # StaffInfo of the clerks who receive documents
    staff: tuple[str, ...] = ()  # StaffInfo of everyone who handles them
    from_b: bytes = b""
    to_b: bytes = b""
    place_b: bytes = b""
    status_from_b: bytes = b""
    business_b: tuple[bytes, ...] = ()
    signers_b: tuple[bytes, ...] = ()
    signature_tail_b: bytes = b""
    clerk_tails: tuple[bytes, ...] = ()  # end of a status line: its StaffInfo and closing tags
    staff_tails: tuple[bytes, ...] = ()
    code: str = ""
    kind: str = ""
    receivers: list[_Party] = field(default_factory=list)
    receiver_cum: list[float] = field(default_factory=list)
    broadcast: list[_Party] = field(default_factory=list)
    counter: int = 0


@dataclass(slots=True, eq=False)
class _World:
    """The agencies in force on one side of the merger, ready to draw senders from."""

    parties: list[_Party]
    sender_cum: list[float]


def _staff_xml(department: str, account: str) -> str:
    return (
        f"<edXML:StaffInfo><edXML:Department>{escape(department)}</edXML:Department>"
        f"<edXML:Staff>{account}</edXML:Staff></edXML:StaffInfo>"
    )


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FAMILY_NAMES)} {rng.choice(MIDDLE_NAMES)} {rng.choice(GIVEN_NAMES)}"


class _Builder:
    """Builds the two worlds (before and after the merger) from the agency list."""

    def __init__(self, region: Region, agencies: list[Agency], rng: random.Random) -> None:
        self.region = region
        self.rng = rng
        self.agencies = agencies
        self.province_names = {p.code: p.name for p in (region.province, *region.old_provinces)}
        self.commune_parent = {c.code: c.parent_code for c in region.old_communes}

    def world(self, day: date) -> _World:
        agencies = [a for a in self.agencies if a.in_force(day)]
        codes = [a.code for a in agencies]
        if len(set(codes)) != len(codes):
            raise ValueError(f"agency codes in force on {day} are not unique")
        groups = sorted({a.province_code for a in agencies})
        by_unit = {a.unit_code: a for a in agencies if a.kind == "district_committee"}
        committees = {
            a.province_code: a for a in agencies if a.kind == "province_committee"
        }  # one per (old) province
        parties = [self._party(a, groups.index(a.province_code), committees, by_unit)
                   for a in agencies]  # fmt: skip
        self._links(parties, {p.code: p for p in parties}, by_unit)
        weights = self._sender_weights(parties)
        return _World(parties, list(accumulate(weights)))

    def _party(
        self,
        agency: Agency,
        group: int,
        committees: dict[str, Agency],
        districts: dict[str, Agency],
    ) -> _Party:
        rng = self.rng
        province_name = self.province_names[agency.province_code]
        kind = agency.kind
        if kind == "department":
            stem = agency.name.removesuffix(f" {province_name}")
            abbreviation = DEPARTMENT_ABBREVIATIONS.get(stem, "SO")
            units = ("VP", "KHTC", "TH", "NV", "TTr") if abbreviation != "VPUBND" else (
                "TH", "KT", "VX", "NC", "HCTC")  # fmt: skip
        elif kind == "service_centre":
            abbreviation, units = "TTPVHCC", ("HCTH", "TN", "GS")
        elif kind == "province_committee":
            abbreviation, units = "UBND", ("VP", "KT", "VX", "NC", "TH", "KTN")
        else:
            abbreviation, units = "UBND", ("VP", "VP", "KT", "VHXH")
        weights = KIND_WEIGHTS[kind]
        party = _Party(agency, group, abbreviation, units, list(accumulate(weights)))
        for document_kind in KINDS:
            if document_kind.abbreviation:
                party.notations.append((f"{document_kind.abbreviation}-{abbreviation}",))
            else:
                party.notations.append(tuple(f"{abbreviation}-{u}" for u in units))
        for notations in party.notations:
            for notation in notations:
                NOTATION_B[notation] = notation.encode()
                NOTATION_ASCII[notation] = notation.replace("Đ", "D").replace("đ", "d")

        name = escape(agency.name)
        if kind in ("province_committee", "department", "service_centre"):
            place = _short_place(province_name)
            in_charge = committees[agency.province_code].name
            address = f"{province_name}"
        elif kind == "district_committee":
            district_name = agency.name.removeprefix("Ủy ban nhân dân ")
            place = _short_place(district_name)
            in_charge = committees[agency.province_code].name
            address = f"{district_name}, {province_name}"
        else:
            commune = agency.name.removeprefix("Ủy ban nhân dân ")
            place = _short_place(commune)
            district = districts.get(self.commune_parent.get(agency.unit_code, ""))
            in_charge = (district or committees[agency.province_code]).name
            address = f"{commune}, {province_name}"
        domain = f"{_slug(_short_place(province_name))}.gov.vn"
        mailbox = _slug(abbreviation if kind != "commune_committee" else place) or "vanthu"
        phone = f"0{rng.randint(200, 299)} {rng.randint(3_800_000, 3_899_999)}"
        party.from_xml = (
            f"<edXML:From><edXML:OrganId>{agency.code}</edXML:OrganId>"
            f"<edXML:OrganizationInCharge>{escape(in_charge)}</edXML:OrganizationInCharge>"
            f"<edXML:OrganName>{name}</edXML:OrganName>"
            f"<edXML:OrganAdd>{escape(address)}</edXML:OrganAdd>"
            f"<edXML:Email>{mailbox}@{domain}</edXML:Email>"
            f"<edXML:Telephone>{phone}</edXML:Telephone></edXML:From>"
        )
        party.to_xml = (
            f"<edXML:To><edXML:OrganId>{agency.code}</edXML:OrganId>"
            f"<edXML:OrganName>{name}</edXML:OrganName></edXML:To>"
        )
        party.place_xml = f"<edXML:Place>{escape(place)}</edXML:Place>"
        party.status_from_xml = (
            f"<edXML:From><edXML:OrganId>{agency.code}</edXML:OrganId>"
            f"<edXML:OrganName>{name}</edXML:OrganName></edXML:From>"
        )
        clerk_count = max(1, min(3, agency.accounts))
        party.clerks = tuple(_staff_xml("Văn thư", agency.account(n)) for n in range(clerk_count))
        departments = (
            "Văn phòng",
            "Phòng Tổng hợp",
            "Phòng Nghiệp vụ",
        )
        party.staff = tuple(
            _staff_xml(departments[n % len(departments)], agency.account(n))
            for n in range(agency.accounts)
        )
        party.business_xml = tuple(
            "<edXML:Bussiness><edXML:BussinessDocType>0</edXML:BussinessDocType>"
            "<edXML:BussinessDocReason>Văn bản điện tử mới</edXML:BussinessDocReason>"
            f"<edXML:Paper>0</edXML:Paper>{clerk}</edXML:Bussiness>"
            for clerk in party.clerks
        )
        if kind in ("province_committee", "district_committee", "commune_committee"):
            roles = (("TM. ỦY BAN NHÂN DÂN", "Chủ tịch"), ("KT. CHỦ TỊCH", "Phó Chủ tịch"),
                     ("KT. CHỦ TỊCH", "Phó Chủ tịch"),
                     ("TL. CHỦ TỊCH", "Chánh Văn phòng"))  # fmt: skip
        elif kind == "department" and abbreviation == "TTT":
            roles = (("", "Chánh Thanh tra"), ("KT. CHÁNH THANH TRA", "Phó Chánh Thanh tra"))
        else:
            roles = (("", "Giám đốc"), ("KT. GIÁM ĐỐC", "Phó Giám đốc"),
                     ("KT. GIÁM ĐỐC", "Phó Giám đốc"))  # fmt: skip
        party.signers = tuple(
            f"<edXML:SignerInfo><edXML:Competence>{escape(competence)}</edXML:Competence>"
            f"<edXML:Position>{escape(position)}</edXML:Position>"
            f"<edXML:FullName>{escape(_person(rng))}</edXML:FullName></edXML:SignerInfo>"
            for competence, position in roles
        )
        party.signature_tail = (
            f"<SignatureValue>{b64encode(rng.randbytes(33)).decode()}</SignatureValue>"
            f"<KeyInfo><X509Data><X509SubjectName>CN={escape(agency.name)},O={escape(in_charge)},"
            "C=VN</X509SubjectName></X509Data></KeyInfo></Signature>"
        )
        party.from_b, party.to_b = party.from_xml.encode(), party.to_xml.encode()
        party.place_b, party.status_from_b = (
            party.place_xml.encode(),
            party.status_from_xml.encode(),
        )
        party.business_b = tuple(x.encode() for x in party.business_xml)
        party.signers_b = tuple(x.encode() for x in party.signers)
        party.signature_tail_b = party.signature_tail.encode()
        party.clerk_tails = tuple(
            f"</edXML:Timestamp>{x}{STATUS_CLOSE}".encode() for x in party.clerks
        )
        party.staff_tails = tuple(
            f"</edXML:Timestamp>{x}{STATUS_CLOSE}".encode() for x in party.staff
        )
        party.code, party.kind = agency.code, agency.kind
        return party

    def _links(
        self, parties: list[_Party], by_code: dict[str, _Party], districts: dict[str, Agency]
    ) -> None:
        """Who sends to whom, and with what weight."""
        by_group: dict[int, dict[str, list[_Party]]] = {}
        for p in parties:
            by_group.setdefault(p.group, {}).setdefault(p.agency.kind, []).append(p)
        district_of: dict[str, _Party] = {}
        communes_of: dict[str, list[_Party]] = {}
        for p in parties:
            if p.agency.kind == "commune_committee":
                district = districts.get(self.commune_parent.get(p.agency.unit_code, ""))
                if district is not None:
                    district_of[p.agency.code] = by_code[district.code]
                    communes_of.setdefault(district.code, []).append(p)
        committees = [p for p in parties if p.agency.kind == "province_committee"]
        for p in parties:
            g = by_group[p.group]
            pcs, depts = g.get("province_committee", []), g.get("department", [])
            centres, dists = g.get("service_centre", []), g.get("district_committee", [])
            communes = g.get("commune_committee", [])
            kind = p.agency.kind
            pool: list[tuple[list[_Party], float]] = []
            if kind == "province_committee":
                other = [c for c in committees if c is not p]
                pool = [(depts, 5), (centres, 3), (dists, 3), (other, 1),
                        (communes, 0.35 if not dists else 0.05)]  # fmt: skip
                p.broadcast = dists + communes if dists else communes
            elif kind == "department":
                pool = [(pcs, 40), (depts, 2), (centres, 3), (dists, 2),
                        (communes, 0.3 if not dists else 0.05)]  # fmt: skip
                p.broadcast = dists if dists else communes
            elif kind == "service_centre":
                pool = [(pcs, 10), (depts, 3), (dists, 1), (communes, 0.3 if not dists else 0.02)]
            elif kind == "district_committee":
                own = communes_of.get(p.agency.code, [])
                pool = [(pcs, 30), (depts, 2.5), (own, 1.5), (dists, 1)]
                p.broadcast = own
            else:
                district = district_of.get(p.agency.code)
                if district is not None:
                    siblings = communes_of[district.agency.code]
                    pool = [([district], 60), (pcs, 5), (depts, 1), (siblings, 0.3)]
                else:
                    pool = [(pcs, 45), (depts, 3.5), (centres, 4), (communes, 0.02)]
            for members, weight in pool:
                for member in members:
                    if member is not p:
                        p.receivers.append(member)
                        p.receiver_cum.append(weight)
            p.receiver_cum = list(accumulate(p.receiver_cum))
            p.broadcast = [b for b in p.broadcast if b is not p]

    def _sender_weights(self, parties: list[_Party]) -> list[float]:
        merged = not any(p.agency.kind == "district_committee" for p in parties)
        shares = (
            {"province_committee": 0.12, "department": 0.42, "service_centre": 0.03,
             "commune_committee": 0.43}
            if merged
            else {"province_committee": 0.09, "department": 0.33, "service_centre": 0.02,
                  "district_committee": 0.18, "commune_committee": 0.38}
        )  # fmt: skip
        raw = [0.5 + self.rng.random() for _ in parties]
        totals: dict[str, float] = {}
        for p, w in zip(parties, raw, strict=True):
            totals[p.agency.kind] = totals.get(p.agency.kind, 0.0) + w
        return [
            shares.get(p.agency.kind, 0.0) * w / totals[p.agency.kind]
            for p, w in zip(parties, raw, strict=True)
        ]


def _month_index(day: date) -> int:
    return (day.year - 2024) * 12 + day.month - 1


def same_day_acceptance(kind: str, day: date) -> float:
    """Probability that a receiver of this kind accepts a document on the day it arrives."""
    base = {"province_committee": 0.84, "department": 0.78, "service_centre": 0.82,
            "district_committee": 0.68, "commune_committee": 0.56}[kind]  # fmt: skip
    share = base + 0.008 * _month_index(day)
    days_since_merger = (day - MERGER_DATE).days
    if 0 <= days_since_merger < 92:  # reorganised agencies, new accounts, new workflows
        dip = 0.22 if kind == "commune_committee" else 0.12
        share -= dip * (1 - days_since_merger / 92)
    return min(max(share, 0.15), 0.97)


def paper_share(kind: str, day: date) -> float:
    """Share of non-secret documents still sent on paper: falling, a step down at the merger."""
    months = _month_index(day)
    if day < MERGER_DATE:
        share = 0.16 - 0.004 * months
    else:
        share = 0.07 - 0.004 * (months - _month_index(MERGER_DATE))
    factor = {"province_committee": 0.5, "department": 0.8, "service_centre": 0.6,
              "district_committee": 1.3, "commune_committee": 1.6}[kind]  # fmt: skip
    return min(max(share * factor, 0.005), 0.6)


def unsigned_share(kind: str, day: date) -> float:
    """Share of electronic documents sent without a digital signature."""
    share = 0.12 - 0.003 * _month_index(day)
    factor = 1.8 if kind == "commune_committee" else 1.3 if kind == "district_committee" else 0.8
    return min(max(share * factor, 0.01), 0.5)


SECRET_SHARE = {"province_committee": 0.03, "department": 0.025, "service_centre": 0.0,
                "district_committee": 0.012, "commune_committee": 0.004}  # fmt: skip
SEASON = (1.1, 0.8, 1.05, 1.0, 1.0, 1.05, 0.95, 0.95, 1.0, 1.05, 1.0, 1.15)
WEEKEND_SHARE = (0.05, 0.02)  # Saturday, Sunday: of a working day's volume


class _GzipFile:
    """A gzip file written chunk by chunk: no name, no time in the header, so reproducible."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: BufferedWriter | None = None
        self.compressor = _zlib.compressobj(1, _zlib.DEFLATED, 31)

    def write(self, data: bytes) -> None:
        if self.handle is None:  # opened by the writer thread, on first use
            self.handle = open(self.path, "wb")  # noqa: SIM115
        self.handle.write(self.compressor.compress(data))

    def close(self) -> None:
        if self.handle is None:
            self.handle = open(self.path, "wb")  # noqa: SIM115
        self.handle.write(self.compressor.flush())
        self.handle.close()


_Handle = _GzipFile | ZipPackages | FolderPackages


class _Sinks:
    """The batch files being written, one per (day index, file name).

    Lines (UTF-8 bytes) are buffered per file, joined in the generating thread and handed to
    a writer thread, so that the kernel's copying of the bytes, on this kind of machine almost
    as long as generating them, overlaps the generation on the second core.
    """

    def __init__(
        self, root: Path, days: list[date], container: str = "zip", packager: Packager | None = None
    ) -> None:
        self.root = root
        self.days = days
        self.container = container
        self.packager = packager
        self.parts: dict[tuple[int, str], list[bytes]] = {}
        self.handles: dict[tuple[int, str], _GzipFile | ZipPackages | FolderPackages] = {}
        self.directories: set[int] = set()
        # Packaging is slower than compressing lines: a shorter queue keeps memory flat when
        # the generator runs ahead of the writer.
        self.queue: queue.Queue[tuple[_Handle, bytes | None] | None] = queue.Queue(
            32 if container == "lines" else 4
        )
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._write, name="documents-writer", daemon=True)
        self.thread.start()

    def _write(self) -> None:
        while (item := self.queue.get()) is not None:
            handle, data = item
            try:
                if data is None:
                    handle.close()
                elif self.error is None:
                    handle.write(data)
            except BaseException as error:  # reported by the generating thread
                self.error = error

    def _put(self, handle: _Handle, data: bytes | None) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put((handle, data))

    def directory(self, day_index: int) -> Path:
        path = self.root / f"date={self.days[day_index]:%Y-%m-%d}"
        if day_index not in self.directories:
            path.mkdir(parents=True, exist_ok=True)
            self.directories.add(day_index)
        return path

    def open(self, key: tuple[int, str]) -> list[bytes]:
        directory, name = self.directory(key[0]), key[1]
        if self.container == "lines" or name not in PACKAGE_NAMES:
            self.handles[key] = _GzipFile(directory / name)
        else:  # a package per message, in a daily zip or folder
            assert self.packager is not None
            package = self.packager.document if name == DOCUMENTS_FILE else self.packager.status
            kind = ZipPackages if self.container == "zip" else FolderPackages
            path = directory / package_name(name, self.container)
            self.handles[key] = kind(path, self.days[key[0]], package)
        parts: list[bytes] = []
        self.parts[key] = parts
        return parts

    def flush(self, minimum: int = 1) -> None:
        """Hand over the lines of every file with at least ``minimum`` lines waiting."""
        for key, parts in self.parts.items():
            if len(parts) >= minimum:
                data = b"".join(parts)
                parts.clear()
                self._put(self.handles[key], data)

    def close(self, day_index: int) -> None:
        """Write out and close the files of a day that will get no more lines."""
        for key in [k for k in self.handles if k[0] == day_index]:
            parts = self.parts.pop(key)
            handle = self.handles.pop(key)
            if parts:
                self._put(handle, b"".join(parts))
            self._put(handle, None)
        self.directories.discard(day_index)

    def finish(self) -> None:
        for day_index in sorted({k[0] for k in self.handles}):
            self.close(day_index)
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def abort(self) -> None:
        for handle in self.handles.values():
            self.queue.put((handle, None))
        self.handles.clear()
        self.queue.put(None)
        self.thread.join()


def write_document_system(
    out: Path,
    region: Region,
    agencies: list[Agency],
    calendar: WorkingCalendar,
    seed: int,
    scale: float,
    start: date,
    end: date,
    fault_rate: float = 0.0,
    on_day: Callable[[date], None] | None = None,
    container: str = "zip",
) -> MonthlyCounts:
    """Write the document system's daily batches under ``out/documents``; return counts.

    The calendar must cover ``end`` and the following months (due dates, later statuses).
    ``container``: a file per message in a daily zip (``zip``) or folder (``folder``), or a
    message per line in a gzip (``lines``); the messages are the same in all three.
    """
    if container not in CONTAINERS:
        raise ValueError(f"container must be one of {', '.join(CONTAINERS)}, not {container!r}")
    if scale <= 0:
        raise ValueError("scale must be positive")
    if end < start:
        raise ValueError("end must not be before start")
    rng = random.Random(f"documents-{seed}")
    builder = _Builder(region, agencies, rng)
    worlds: dict[bool, _World] = {}
    if start < MERGER_DATE:
        worlds[False] = builder.world(min(end, MERGER_DATE - timedelta(days=1)))
    if end >= MERGER_DATE:
        worlds[True] = builder.world(max(start, MERGER_DATE))
    known_codes = {a.code for a in agencies}
    root = out / "documents"
    root.mkdir(parents=True, exist_ok=True)
    counts = MonthlyCounts()
    with ExitStack() as stack:
        injectors = {
            s: stack.enter_context(FaultInjector(out, s, fault_rate, seed)) for s in SOURCES
        }
        packager = Packager(seed, ATTACHMENT_B64)
        generator = _Generator(root, rng, calendar, worlds, known_codes, injectors, counts,
                               scale, start, end, container, packager)  # fmt: skip
        try:
            generator.run(on_day)
        except BaseException:
            generator.sinks.abort()
            raise
        generator.sinks.finish()
    return counts


def _b(text: str) -> bytes:
    return text.encode()


DOC_OPEN_B = _b(DOC_OPEN)
STATUS_CODE_B = {code: _b(text) for code, text in STATUS_CODE_XML.items()}
STATUS_OPEN_B = _b(STATUS_OPEN)
ATTACHMENT_DESCRIPTION_B = _b("Văn bản")
REGISTER_HEADER_B = _b(",".join(REGISTER_COLUMNS) + "\n")


class _Generator:
    """Generates the days of the window one after the other."""

    def __init__(
        self,
        root: Path,
        rng: random.Random,
        calendar: WorkingCalendar,
        worlds: dict[bool, _World],
        known_codes: set[str],
        injectors: dict[str, FaultInjector],
        counts: MonthlyCounts,
        scale: float,
        start: date,
        end: date,
        container: str = "zip",
        packager: Packager | None = None,
    ) -> None:
        self.rng = rng
        self.container = container
        self.worlds = worlds
        self.known_codes = known_codes
        self.injectors = injectors
        self.counts = counts
        self.start, self.end = start, end
        self.ndays = (end - start).days + 1
        self.faulty = any(i.rate > 0 for i in injectors.values())
        span = self.ndays + HORIZON_DAYS
        self.days = [start + timedelta(days=i) for i in range(span)]
        self.day_text = [f"{d:%Y/%m/%d}" for d in self.days]
        self.day_b = [_b(t) for t in self.day_text]
        self.working = [calendar.is_working_day(d) for d in self.days]
        self.work_days = [i for i, w in enumerate(self.working) if w]
        # next_work[i]: position in work_days of the first working day after day i
        self.next_work = [bisect_right(self.work_days, i) for i in range(span)]
        if len(self.work_days) < 2 or self.work_days[-1] < self.ndays + 60:
            raise ValueError("the working calendar must cover the window and a few months more")
        self.hms = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY)]
        self.hms_b = [_b(f" {t}") for t in self.hms]  # with the separating space
        self.day_compact = [f"{d:%Y%m%d}" for d in self.days]
        self.promulgation_b = [
            _b(f"<edXML:PromulgationDate>{t}</edXML:PromulgationDate></edXML:PromulgationInfo>")
            for t in self.day_text
        ]
        # placeholder digests: signed documents draw one from this pool
        self.signatures = [
            _b(f"{SIGNATURE_OPEN}{b64encode(rng.randbytes(32)).decode()}</DigestValue>"
               "</Reference></SignedInfo>")
            for _ in range(1024)
        ]  # fmt: skip
        working_days_per_year = 250 + 52 * sum(WEEKEND_SHARE)
        self.daily_mean = scale * DOCUMENTS_PER_YEAR_AT_SCALE_1 / working_days_per_year
        self.end_t = self.ndays * DAY
        self.merger_t = (MERGER_DATE - start).days * DAY
        self.subjects = [
            [_b(f"<edXML:Subject>{escape(text)}</edXML:Subject>"
                f"<edXML:Content>{escape(text)}</edXML:Content>")
             for text in (s.format(topic=t) for s in k.subjects for t in TOPICS)]
            for k in KINDS
        ]  # fmt: skip
        self.type_b = [
            _b(f"<edXML:DocumentType><edXML:Type>{k.type_code}</edXML:Type>"
               f"<edXML:TypeDetail>0</edXML:TypeDetail><edXML:TypeName>{escape(k.name)}"
               "</edXML:TypeName></edXML:DocumentType>")
            for k in KINDS
        ]  # fmt: skip
        self.status_counts = [0] * span
        self.status_parts: dict[int, list[bytes]] = {}
        self._init_counters()
        self.sinks = _Sinks(root, self.days, container, packager)

    def _init_counters(self) -> None:
        """Registers start the year at 1; a window starting mid-year continues the count."""
        for merged, world in self.worlds.items():
            year_start = date(self.start.year, 1, 1)
            if merged:
                year_start = max(year_start, MERGER_DATE)
            elapsed = max(0, (self.start - year_start).days) * 250 / 365
            total = world.sender_cum[-1]
            previous = 0.0
            for party, cumulative in zip(world.parties, world.sender_cum, strict=True):
                share = (cumulative - previous) / total
                previous = cumulative
                party.counter = int(elapsed * self.daily_mean * share)

    # -- the day loop ----------------------------------------------------------------------

    def run(self, on_day: Callable[[date], None] | None) -> None:
        for index in range(self.ndays):
            day = self.days[index]
            if on_day:
                on_day(day)
            if index and day.month == 1 and day.day == 1:
                for world in self.worlds.values():
                    for party in world.parties:
                        party.counter = 0
            self._day(index, day)
            self.sinks.close(index)
            self.status_parts.pop(index, None)
            self.counts.add(STATUS, day, self.status_counts[index])

    def _count(self, index: int, day: date) -> int:
        weekday = day.weekday()
        if self.working[index]:
            mean = self.daily_mean * SEASON[day.month - 1]
        elif weekday >= 5 and not self._holiday_weekend(index, day):
            mean = self.daily_mean * WEEKEND_SHARE[weekday - 5]
        else:
            return 0
        if mean > 50:
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        limit, product, n = math.exp(-mean), self.rng.random(), 0
        while product > limit:
            product *= self.rng.random()
            n += 1
        return n

    def _holiday_weekend(self, index: int, day: date) -> bool:
        """A weekend next to a holiday (the Friday before or the Monday after is off)."""
        friday = index - (day.weekday() - 4)
        monday = friday + 3
        return (friday >= 0 and not self.working[friday]) or not self.working[monday]

    def _send_times(self, n: int, working: bool) -> list[int]:
        r = self.rng.random
        times = []
        for _ in range(n):
            if not working:
                times.append(28_800 + int(r() * 32_400))
                continue
            x = r()
            if x < 0.56:
                times.append(MORNING + int(r() * (NOON - MORNING)))
            elif x < 0.95:
                times.append(AFTERNOON + int(r() * (EVENING - AFTERNOON)))
            elif x < 0.98:
                times.append(NOON + int(r() * (AFTERNOON - NOON)))
            else:
                times.append(EVENING + int(r() * 10_800))
        times.sort()
        return times

    def _day(self, index: int, day: date) -> None:
        merged = day >= MERGER_DATE
        world = self.worlds[merged]
        sinks = self.sinks
        doc_key, reg_key = (index, DOCUMENTS_FILE), (index, REGISTER_FILE)
        documents = sinks.open(doc_key)
        register = sinks.open(reg_key)
        register.append(REGISTER_HEADER_B)
        if index not in self.status_parts:
            self._open_status(index)
        day_text = self.day_text[index]
        working = self.working[index]
        n = self._count(index, day)
        times = self._send_times(n, working)
        kinds = {p.kind for p in world.parties}
        accept = {k: same_day_acceptance(k, day) * (1 if working else 0.25) for k in kinds}
        paper = {k: paper_share(k, day) for k in kinds}
        unsigned = {k: unsigned_share(k, day) for k in kinds}
        cut_t = self.end_t if merged else min(self.end_t, self.merger_t)
        rng = self.rng
        r = rng.random
        parties, sender_cum = world.parties, world.sender_cum
        total = sender_cum[-1]
        base_t = index * DAY
        hms = self.hms
        faulty = self.faulty
        electronic_count = 0
        for sequence, second in enumerate(times):
            sender = parties[bisect_right(sender_cum, r() * total)]
            kind = sender.kind
            broadcast = bool(sender.broadcast) and r() < 0.006
            if broadcast:
                size = len(sender.broadcast)
                receivers = rng.sample(sender.broadcast, max(1, int(size * (0.3 + 0.7 * r()))))
            else:
                x = r()
                wanted = 1 if x < 0.72 else 2 if x < 0.9 else 3 if x < 0.98 else 4 + int(r() * 3)
                pool, cum = sender.receivers, sender.receiver_cum
                top = cum[-1]
                receivers = []
                for _ in range(wanted * 3):
                    candidate = pool[bisect_right(cum, r() * top)]
                    if candidate not in receivers:
                        receivers.append(candidate)
                        if len(receivers) == wanted:
                            break
            kind_index = bisect_right(sender.kind_cum, r() * sender.kind_cum[-1])
            sender.counter += 1
            number = sender.counter
            notations = sender.notations[kind_index]
            notation = notations[int(r() * len(notations))] if len(notations) > 1 else notations[0]
            document_id = f"{sender.code},{day_text},{number}/{notation}"
            secret = r() < SECRET_SHARE[kind]
            electronic = not secret and r() >= paper[kind]
            signed = electronic and r() >= unsigned[kind]
            priority = PRIORITY_TABLE[int(r() * 100)]
            pages = PAGE_TABLE[int(r() * len(PAGE_TABLE))]
            sent_text = f"{day_text} {hms[second]}"
            row = (
                f'"{document_id}",{number},{notation},{sender.code},'
                f"{';'.join([p.code for p in receivers])},{len(receivers)},"
                f"{KINDS[kind_index].type_code},{KINDS[kind_index].name},{day_text},{sent_text},"
                f"{priority},{pages},{int(electronic)},{int(signed)},{int(secret)}\n"
            )
            if faulty:
                fault = self.injectors[REGISTER].draw(REGISTER_FAULTS)
                if fault is not None:
                    row = self._spoil_row(reg_key, row, fault, document_id, day)
            register.append(row.encode() if type(row) is str else row)
            if electronic:
                electronic_count += 1
                line = self._message(
                    sequence, document_id, number, notation, sender, receivers, kind_index,
                    index, sent_text, priority, pages, signed,
                )  # fmt: skip
                if faulty:
                    fault = self.injectors[MESSAGES].draw(MESSAGE_FAULTS)
                    if fault is not None:
                        line = self._spoil_message(
                            doc_key, line, fault, document_id, sender, receivers, day, pages
                        )
                        if fault == DUPLICATE:
                            documents.append(line)
                documents.append(line)
                self._statuses(
                    sender, receivers, document_id, f"{number}/{notation}", index,
                    base_t + second, accept, cut_t, broadcast,
                )  # fmt: skip
            if sequence % FLUSH_EVERY == FLUSH_EVERY - 1:
                sinks.flush(FLUSH_LINES)
                time.sleep(0)
        self.counts.add(REGISTER, day, n)
        self.counts.add(MESSAGES, day, electronic_count)

    def _file(self, key: tuple[int, str]) -> str:
        name = key[1] if key[1] not in PACKAGE_NAMES else package_name(key[1], self.container)
        return f"documents/date={self.days[key[0]]:%Y-%m-%d}/{name}"

    def _open_status(self, day_index: int) -> list[bytes]:
        parts = self.sinks.open((day_index, STATUS_FILE))
        self.status_parts[day_index] = parts
        return parts

    # -- records ---------------------------------------------------------------------------

    def _spoil_row(
        self, key: tuple[int, str], row: str, fault: str, document_id: str, day: date
    ) -> str | bytes:
        fields = row.rstrip("\n").split(",")
        # the quoted document_id holds two commas: fields[0:3] are its parts
        identifier, rest = ",".join(fields[:3]), fields[3:]
        spoiled: str | bytes
        if fault == MISSING_FIELD:
            if self.rng.random() < 0.5:
                identifier, detail = "", "document_id"
            else:
                rest[2], detail = "", "sender_code"
        elif fault in (IMPOSSIBLE_DATE, MALFORMED_DATE):
            rest[7] = self._bad_date(fault, day)
            detail = f"promulgation_date {rest[7]}"
        elif fault == UNKNOWN_UNIT:
            unknown = self._unknown_code()
            codes = rest[3].split(";")
            codes[int(self.rng.random() * len(codes))] = unknown
            rest[3], detail = ";".join(codes), f"receiver {unknown}"
        elif fault == ABSURD_VALUE:
            rest[10], detail = str(ABSURD_PAGES), f"page_amount {ABSURD_PAGES}"
        elif fault == WRONG_ENCODING:
            detail = "row in Windows-1258"
        else:  # DUPLICATE
            detail = "row written twice"
        spoiled = ",".join([identifier, *rest]) + "\n"
        if fault == WRONG_ENCODING:
            spoiled = to_windows_1258(spoiled)
        elif fault == DUPLICATE:
            spoiled = (spoiled * 2).encode()
        self.injectors[REGISTER].record(document_id, fault, detail, self._file(key))
        return spoiled

    def _message(
        self,
        sequence: int,
        document_id: str,
        number: int,
        notation: str,
        sender: _Party,
        receivers: list[_Party],
        kind_index: int,
        index: int,
        sent_text: str,
        priority: int,
        pages: int,
        signed: bool,
    ) -> bytes:
        # Non-ASCII text is encoded once (fragments) or separately (short values): encoding
        # a long non-ASCII str costs ten times as much as an ASCII one.
        r = self.rng.random
        subjects = self.subjects[kind_index]
        if r() < 0.35:
            due = DUE_IN_WORKING_DAYS[int(r() * len(DUE_IN_WORKING_DAYS))]
            due_text = self.day_text[self.work_days[self.next_work[index] + due - 1]]
        else:
            due_text = ""
        code = sender.code
        content_id = f"{sequence + 1}.{self.day_compact[index]}@{code}"
        attachment = f"{number}_{NOTATION_ASCII[notation]}.pdf"
        notation_b = NOTATION_B[notation]
        return b"".join((
            DOC_OPEN_B,
            sender.from_b,
            *[p.to_b for p in receivers],
            f"<edXML:Code><edXML:CodeNumber>{number}</edXML:CodeNumber>".encode(),
            b"<edXML:CodeNotation>",
            notation_b,
            b"</edXML:CodeNotation></edXML:Code><edXML:PromulgationInfo>",
            sender.place_b,
            self.promulgation_b[index],
            self.type_b[kind_index],
            subjects[int(r() * len(subjects))],
            sender.signers_b[int(r() * len(sender.signers_b))],
            f"<edXML:DueDate>{due_text}</edXML:DueDate><edXML:OtherInfo><edXML:Priority>"
            f"{priority}</edXML:Priority><edXML:TyperNotation>"
            f"{TYPER_NOTATIONS[int(r() * len(TYPER_NOTATIONS))]}</edXML:TyperNotation>"
            "<edXML:PromulgationAmount>1</edXML:PromulgationAmount><edXML:PageAmount>"
            f"{pages}</edXML:PageAmount></edXML:OtherInfo><edXML:SteeringType>0"
            "</edXML:SteeringType><edXML:DocumentId>".encode(),
            document_id.encode(),
            "</edXML:DocumentId></edXML:MessageHeader><edXML:TraceHeaderList>"
            f"<edXML:TraceHeader><edXML:OrganId>{code}</edXML:OrganId><edXML:Timestamp>"
            f"{sent_text}</edXML:Timestamp></edXML:TraceHeader>".encode(),
            sender.business_b[int(r() * len(sender.business_b))],
            b"</edXML:TraceHeaderList>",
            self.signatures[int(r() * len(self.signatures))] if signed else b"",
            sender.signature_tail_b if signed else b"",
            '</edXML:edXMLHeader><edXML:edXMLBody><edXML:edXMLManifest version="1.0">'
            f'<edXML:Reference xmlns:xlink="{XLINK_NS}" xlink:href="cid:{content_id}" '
            'xlink:role="XLinkRole" xlink:type="simple">'
            f"<edXML:ContentId>cid:{content_id}</edXML:ContentId>"
            "<edXML:ContentType>application/pdf</edXML:ContentType><edXML:Description>".encode(),
            ATTACHMENT_DESCRIPTION_B,
            f"</edXML:Description><edXML:AttachmentName>{attachment}</edXML:AttachmentName>"
            "</edXML:Reference></edXML:edXMLManifest></edXML:edXMLBody></edXML:edXMLEnvelope>"
            "<AttachmentEncoded><Attachment><ContentType>application/pdf</ContentType>"
            f"<ContentId>{content_id}</ContentId><Description>".encode(),
            ATTACHMENT_DESCRIPTION_B,
            f"</Description><ContentTransferEncoded>{ATTACHMENT_B64}</ContentTransferEncoded>"
            f"<AttachmentName>{attachment}</AttachmentName></Attachment></AttachmentEncoded>"
            "</edXML>\n".encode(),
        ))  # fmt: skip

    def _spoil_message(
        self,
        key: tuple[int, str],
        line: bytes,
        fault: str,
        document_id: str,
        sender: _Party,
        receivers: list[_Party],
        day: date,
        pages: int,
    ) -> bytes:
        rng = self.rng
        text = line.decode()
        if fault == BROKEN_XML:
            text, detail = text.replace("</edXML:Subject>", "", 1), "no </edXML:Subject>"
        elif fault == TRUNCATED_XML:
            cut = len(text) // 4 + int(rng.random() * len(text) // 2)
            text, detail = text[:cut] + "\n", f"cut after {cut} characters"
        elif fault == WRONG_ENCODING:
            detail = "message in Windows-1258"
        elif fault == MISSING_FIELD:
            if rng.random() < 0.5:
                element = f"<edXML:DocumentId>{document_id}</edXML:DocumentId>"
                text, detail = text.replace(element, "", 1), "no DocumentId"
            else:
                text, detail = text.replace(sender.from_xml, "", 1), "no From"
        elif fault in (IMPOSSIBLE_DATE, MALFORMED_DATE):
            bad = self._bad_date(fault, day)
            good = f"<edXML:PromulgationDate>{day:%Y/%m/%d}</edXML:PromulgationDate>"
            text = text.replace(good, f"<edXML:PromulgationDate>{bad}</edXML:PromulgationDate>")
            detail = f"PromulgationDate {bad}"
        elif fault == UNKNOWN_UNIT:
            receiver = receivers[int(rng.random() * len(receivers))]
            unknown = self._unknown_code()
            spoiled = receiver.to_xml.replace(receiver.agency.code, unknown)
            text, detail = text.replace(receiver.to_xml, spoiled, 1), f"To OrganId {unknown}"
        elif fault == DUPLICATE:
            detail = "message sent twice"
        else:  # ABSURD_VALUE
            good = f"<edXML:PageAmount>{pages}</edXML:PageAmount>"
            text = text.replace(good, f"<edXML:PageAmount>{ABSURD_PAGES}</edXML:PageAmount>", 1)
            detail = f"PageAmount {ABSURD_PAGES}"
        self.injectors[MESSAGES].record(document_id, fault, detail, self._file(key))
        return to_windows_1258(text) if fault == WRONG_ENCODING else text.encode()

    def _statuses(
        self,
        sender: _Party,
        receivers: list[_Party],
        document_id: str,
        code: str,
        day_index: int,
        sent_t: int,
        accept: dict[str, float],
        cut_t: int,
        broadcast: bool,
    ) -> None:
        """The status messages every receiver sends back, each in its timestamp's batch.

        The first receiver is the one expected to act; the others (copies, broadcasts)
        mostly just acknowledge.
        """
        r = self.rng.random
        head = b"".join((
            STATUS_OPEN_B,
            f"<edXML:ResponseFor><edXML:OrganId>{sender.code}</edXML:OrganId><edXML:Code>".encode(),
            code.encode(),
            b"</edXML:Code><edXML:PromulgationDate>",
            self.day_b[day_index],
            b"</edXML:PromulgationDate><edXML:DocumentId>",
            document_id.encode(),
            b"</edXML:DocumentId></edXML:ResponseFor>",
        ))  # fmt: skip
        day_end = day_index * DAY + DAY - 1
        late = day_index * DAY + LATE
        working_time, later = self._working_time, self._later
        parts_by_day, open_day = self.status_parts, self._open_status
        day_b, hms_b, counts = self.day_b, self.hms_b, self.status_counts
        faulty = self.faulty
        handling = 0.04 if broadcast else 0.12
        for position, receiver in enumerate(receivers):
            x = r()
            if x < 0.85:
                arrived = sent_t + 20 + int(r() * 580)
            elif x < 0.97:
                arrived = sent_t + 600 + int(r() * 6_600)
            else:
                arrived = sent_t + 7_200 + int(r() * 14_400)
            arrived = min(arrived, day_end)
            clerks, staff = receiver.clerk_tails, receiver.staff_tails
            events = [(ARRIVED, arrived, clerks)]
            # accepted (or rejected): the same day for most, the next working days for others
            if r() < accept[receiver.kind]:
                t = arrived + 120 + int(-math.log(1.0 - r()) * 5_400)
                if t > late:
                    t = working_time(day_index, 1)
            else:
                x = r()
                t = working_time(day_index, 1 if x < 0.7 else 2 if x < 0.9 else 3 + int(r() * 3))
            if t < cut_t:
                if r() < 0.02:
                    events.append((REJECTED, t, clerks))
                else:
                    events.append((ACCEPTED, t, clerks))
                    if r() < (0.55 if position == 0 else handling):
                        t = later(t, 0.5, 2)
                        if t < cut_t:
                            events.append((ASSIGNED, t, staff))
                            if r() < 0.85:
                                t = later(t, 0.4, 3)
                                if t < cut_t:
                                    events.append((IN_PROCESS, t, staff))
                                    if r() < 0.75:
                                        t = later(t, 0.1, 15)
                                        if t < cut_t:
                                            events.append((COMPLETED, t, staff))
            prefix = head + receiver.status_from_b
            for status, t, people in events:
                day, second = divmod(t, DAY)
                parts = parts_by_day.get(day)
                if parts is None:
                    parts = open_day(day)
                line = b"".join((
                    prefix, STATUS_CODE_B[status], day_b[day], hms_b[second],
                    people[int(r() * len(people))],
                ))  # fmt: skip
                if faulty:
                    fault = self.injectors[STATUS].draw(
                        COMPLETED_FAULTS if status == COMPLETED else STATUS_FAULTS
                    )
                    if fault is not None:
                        line, day = self._spoil_status(
                            line, day, fault, receiver, status, t, document_id, arrived
                        )
                        parts = parts_by_day[day]
                        if fault == DUPLICATE:
                            parts.append(line)
                parts.append(line)
                counts[day] += 1

    def _working_time(self, day_index: int, working_days: int) -> int:
        """A moment during office hours ``working_days`` working days after ``day_index``."""
        target = self.work_days[self.next_work[day_index] + working_days - 1]
        x = self.rng.random()
        if x < 0.6:
            second = MORNING + int(x / 0.6 * (NOON - MORNING))
        else:
            second = AFTERNOON + int((x - 0.6) / 0.4 * (EVENING - AFTERNOON))
        return target * DAY + second

    def _later(self, t: int, same_day: float, spread: int) -> int:
        r = self.rng.random
        day_index, second = divmod(t, DAY)
        if self.working[day_index] and r() < same_day:
            later = second + 300 + int(r() * 10_800)
            if later < EVENING:
                return day_index * DAY + later
        return self._working_time(day_index, 1 + int(r() * spread))

    def _spoil_status(
        self,
        line: bytes,
        day_index: int,
        fault: str,
        receiver: _Party,
        code: str,
        t: int,
        document_id: str,
        arrived: int,
    ) -> tuple[bytes, int]:
        """Spoil one status line; returns it and the day whose batch it goes to."""
        rng = self.rng
        text = line.decode()
        stamp = f"{self.day_text[day_index]} {self.hms[t % DAY]}"
        if fault == BROKEN_XML:
            text, detail = text.replace("</edXML:Description>", "", 1), "no </edXML:Description>"
        elif fault == TRUNCATED_XML:
            cut = len(text) // 4 + int(rng.random() * len(text) // 2)
            text, detail = text[:cut] + "\n", f"cut after {cut} characters"
        elif fault == WRONG_ENCODING:
            detail = "message in Windows-1258"
        elif fault == MISSING_FIELD:
            if rng.random() < 0.5:
                element = f"<edXML:DocumentId>{document_id}</edXML:DocumentId>"
                text, detail = text.replace(element, "", 1), "no ResponseFor/DocumentId"
            else:
                text, detail = text.replace(receiver.status_from_xml, "", 1), "no From"
        elif fault in (IMPOSSIBLE_DATE, MALFORMED_DATE):
            bad = f"{self._bad_date(fault, self.days[day_index])} {stamp[11:]}"
            text = text.replace(f"<edXML:Timestamp>{stamp}<", f"<edXML:Timestamp>{bad}<", 1)
            detail = f"Timestamp {bad}"
        elif fault == UNKNOWN_UNIT:
            unknown = self._unknown_code()
            spoiled = receiver.status_from_xml.replace(receiver.agency.code, unknown)
            text = text.replace(receiver.status_from_xml, spoiled, 1)
            detail = f"From OrganId {unknown}"
        elif fault == DUPLICATE:
            detail = "status sent twice"
        else:  # OUT_OF_ORDER_EVENT: completed before it arrived, in the batch of the arrival
            day_index, second = divmod(arrived, DAY)
            before = max(0, second - 60 - int(rng.random() * 3_600))
            bad = f"{self.day_text[day_index]} {self.hms[before]}"
            text = text.replace(f"<edXML:Timestamp>{stamp}<", f"<edXML:Timestamp>{bad}<", 1)
            detail = f"06 at {bad}, before 01"
            if day_index not in self.status_parts:
                self._open_status(day_index)
        key_text = f"{document_id}|{receiver.agency.code}|{code}"
        self.injectors[STATUS].record(key_text, fault, detail, self._file((day_index, STATUS_FILE)))
        line = to_windows_1258(text) if fault == WRONG_ENCODING else text.encode()
        return line, day_index

    def _bad_date(self, fault: str, day: date) -> str:
        if fault == MALFORMED_DATE:
            return f"{day:%d-%m-%Y}" if self.rng.random() < 0.7 else f"{day:%Y%m%d}"
        choices = ((2, 30), (4, 31), (6, 31), (9, 31), (11, 31), (2, 31), (13, 1), (7, 0))
        m, d = choices[int(self.rng.random() * len(choices))]
        return f"{day.year}/{m:02d}/{d:02d}"

    def _unknown_code(self) -> str:
        rng = self.rng
        while True:
            code = f"000.{90 + int(rng.random() * 10):02d}.{90 + int(rng.random() * 10):02d}.H99"
            if code not in self.known_codes:
                return code
