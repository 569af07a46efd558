"""The strict grammar of canonical edXML messages, and where the fast path finds each field.

The grammar spells every tag, attribute and nesting level of the canonical message literally
and restricts text to characters XML allows unescaped (no ``<``, ``>``, ``&`` but the five
predefined entities, no control characters). It runs as an automaton compiled by re2c
(:mod:`ingestion.compiled`), or, where that cannot be built, as a regular expression in polars
(:data:`DOCUMENT_GRAMMAR`, :data:`STATUS_GRAMMAR`); both accept the same lines (tested). A line
it accepts is therefore a well-formed XML document whose elements sit exactly where the
grammar puts them, so a field is the text after an opening tag that occurs once in the grammar
(:data:`MESSAGE_TAGS`, :data:`STATUS_TAGS`; status lines in their canonical layout by
position, :data:`STATUS_POSITIONS`).
"""

from __future__ import annotations

from ingestion.documents.tables import MESSAGES_SOURCE, STATUS_SOURCE
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

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XLINK_NS = "http://www.w3.org/1999/xlink"


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
# base64, wrapped as MIME writes it (XML Schema's base64Binary allows the blanks)
_BASE64 = star(any_of((0x41, 0x5A), (0x61, 0x7A), (0x30, 0x39), "+/=", " \t\r\n"))


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
