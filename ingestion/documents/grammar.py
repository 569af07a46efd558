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
# Blanks between two tags (a pretty-printed message): after every tag that another tag may
# follow. They mean nothing to the fields read: the fast path reads a leaf's text, which they
# are not part of, and a leaf holding only blanks reads as empty either way.
BLANKS = "[ \t\r\n]*"
_BLANKS = star(any_of(" \t\r\n"))


def _attrs(*pairs: tuple[str, str | None]) -> Seq:
    return seq(*(seq(f" {n}=", f'"{v}"' if v is not None else _VALUE) for n, v in pairs))


def _el(name: str, *children: Node, attrs: Node = EMPTY, prefix: str = "edXML:") -> Seq:
    tag = f"{prefix}{name}"
    return seq(f"<{tag}", attrs, ">", _BLANKS, *children, f"</{tag}>", _BLANKS)


def _leaf(name: str, prefix: str = "edXML:", body: Node = _TEXT) -> Seq:
    tag = f"{prefix}{name}"
    return seq(f"<{tag}", alt("/>", seq(">", alt(body, _BLANKS), f"</{tag}>")), _BLANKS)


def _field(name: str, prefix: str = "edXML:") -> Seq:
    tag = f"{prefix}{name}"
    return seq(f"<{tag}>", alt(_TEXT, _BLANKS), f"</{tag}>", _BLANKS)


def _empty(name: str, attrs: Node) -> Seq:
    return seq(f"<{name}", attrs, alt("/>", seq(">", _BLANKS, f"</{name}>")), _BLANKS)


_DECLARATION = seq(
    opt(any_of("\ufeff")),
    '<?xml version="1.0"',
    opt(' encoding="', Lit("utf-8", nocase=True), '"'),
    opt(' standalone="', alt("yes", "no"), '"'),
    "?>",
    _BLANKS,
)
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


def _message_header(p: str) -> Seq:
    return _el(
        "MessageHeader",
        _el("From", _field("OrganId", p), opt(_leaf("OrganizationInCharge", p)),
            opt(_leaf("OrganName", p)), opt(_leaf("OrganAdd", p)), opt(_leaf("Email", p)),
            opt(_leaf("Telephone", p)), opt(_leaf("Fax", p)), opt(_leaf("Website", p)),
            prefix=p),
        many(_el("To", _field("OrganId", p), opt(_leaf("OrganName", p)),
                 opt(_leaf("OrganAdd", p)), opt(_leaf("Email", p)), opt(_leaf("Telephone", p)),
                 opt(_leaf("Fax", p)), opt(_leaf("Website", p)), prefix=p)),
        _el("Code", _field("CodeNumber", p), _field("CodeNotation", p), prefix=p),
        _el("PromulgationInfo", opt(_leaf("Place", p)), _field("PromulgationDate", p), prefix=p),
        _el("DocumentType", _field("Type", p), opt(_leaf("TypeDetail", p)),
            _field("TypeName", p), prefix=p),
        _field("Subject", p),
        opt(_leaf("Content", p)),
        _el("SignerInfo", opt(_leaf("Competence", p)), opt(_leaf("Position", p)),
            _field("FullName", p), prefix=p),
        _field("DueDate", p),
        _el("OtherInfo", _field("Priority", p), opt(_leaf("SphereOfPromulgation", p)),
            opt(_leaf("TyperNotation", p)), opt(_leaf("PromulgationAmount", p)),
            _field("PageAmount", p), prefix=p),
        opt(_leaf("SteeringType", p)),
        _field("DocumentId", p),
        prefix=p,
    )  # fmt: skip


def _trace_headers(p: str) -> Seq:
    return _el(
        "TraceHeaderList",
        _el("TraceHeader", _leaf("OrganId", p), _field("Timestamp", p), prefix=p),
        opt(_el("Bussiness", opt(_leaf("BussinessDocType", p)),
                opt(_leaf("BussinessDocReason", p)), opt(_leaf("Paper", p)),
                opt(_el("StaffInfo", opt(_leaf("Department", p)), opt(_leaf("Staff", p)),
                        opt(_leaf("Email", p)), opt(_leaf("Mobile", p)), prefix=p)),
                prefix=p)),
        prefix=p,
    )  # fmt: skip


def _manifest_reference(p: str) -> Seq:
    return _el(
        "Reference",
        opt(_leaf("ContentId", p)), opt(_leaf("ContentType", p)), opt(_leaf("Description", p)),
        opt(_leaf("AttachmentName", p)),
        attrs=_attrs(("xmlns:xlink", XLINK_NS), ("xlink:href", None), ("xlink:role", None),
                     ("xlink:type", None)),
        prefix=p,
    )  # fmt: skip


_ATTACHMENT = _el(
    "Attachment",
    opt(_leaf("ContentType", "")), opt(_leaf("ContentId", "")), opt(_leaf("Description", "")),
    _leaf("ContentTransferEncoded", "", _BASE64), opt(_leaf("AttachmentName", "")),
    prefix="",
)  # fmt: skip
# The two forms of the namespace declaration: the edXML elements with the edXML: prefix, or
# (a tenth of the senders' systems) in the default namespace, unprefixed. A document's root
# declares the default namespace already, so its envelope may declare it again or not.
_FORMS = {"edXML:": _attrs(("xmlns:edXML", NS)), "": opt(_attrs(("xmlns", NS)))}


def _envelope(p: str) -> Seq:
    return _el(
        "edXMLEnvelope",
        _el("edXMLHeader", _message_header(p), _trace_headers(p), opt(_SIGNATURE), prefix=p),
        _el("edXMLBody",
            _el("edXMLManifest", star(_manifest_reference(p)), attrs=_attrs(("version", None)),
                prefix=p),
            prefix=p),
        attrs=_FORMS[p], prefix=p,
    )  # fmt: skip


def _status_envelope(p: str) -> Seq:
    return _el(
        "edXMLEnvelope",
        _el("edXMLHeader",
            _el("Status",
                _el("ResponseFor", _field("OrganId", p), _field("Code", p),
                    _field("PromulgationDate", p), _field("DocumentId", p), prefix=p),
                _el("From", _field("OrganId", p), opt(_leaf("OrganName", p)), prefix=p),
                _field("StatusCode", p),
                _field("Description", p),
                _field("Timestamp", p),
                opt(_el("StaffInfo", opt(_leaf("Department", p)), _field("Staff", p),
                        opt(_leaf("Email", p)), opt(_leaf("Mobile", p)), prefix=p)),
                prefix=p),
            prefix=p),
        seq(f"<{p}edXMLBody", alt("/>", seq(">", _BLANKS, f"</{p}edXMLBody>")), _BLANKS),
        attrs=_attrs(("xmlns:edXML", NS)) if p else _attrs(("xmlns", NS)), prefix=p,
    )  # fmt: skip


DOCUMENT_NODES = seq(
    _DECLARATION,
    _el("edXML",
        alt(_envelope("edXML:"), _envelope("")),
        opt(_el("AttachmentEncoded", star(_ATTACHMENT), prefix="")),
        attrs=_attrs(("xmlns", NS)), prefix=""),
)  # fmt: skip
STATUS_NODES = seq(_DECLARATION, alt(_status_envelope("edXML:"), _status_envelope("")))
DOCUMENT_GRAMMAR, STATUS_GRAMMAR = regex(DOCUMENT_NODES), regex(STATUS_NODES)
GRAMMARS = {"edxml_document": DOCUMENT_NODES, "edxml_status": STATUS_NODES}
GRAMMAR_NAMES = {MESSAGES_SOURCE: "edxml_document", STATUS_SOURCE: "edxml_status"}

# Where the fast path finds each field: the text after a tag (with its parent where the tag's
# name is not unique) that occurs exactly once in a line the grammar accepts, as the path of
# its local names: the edXML elements of an accepted line are all prefixed or all unprefixed
# (the two forms above), so either spelling of the path (:func:`tag_pattern`) is that element.
MESSAGE_TAGS = {
    "sender_code": ("From", "OrganId"),
    "code_number": ("CodeNumber",),
    "code_notation": ("CodeNotation",),
    "promulgation_date": ("PromulgationDate",),
    "type_code": ("Type",),
    "type_name": ("TypeName",),
    "subject": ("Subject",),
    "signer_name": ("FullName",),
    "due_date": ("DueDate",),
    "priority": ("Priority",),
    "page_amount": ("PageAmount",),
    "document_id": ("DocumentId",),
    "sent_at": ("Timestamp",),
}
RECEIVER_TAG = ("To", "OrganId")
SIGNATURE_TAG = "<Signature "  # the XML signature's namespace is always the default one
# a manifest reference (the signature's references have no xlink attributes)
REFERENCE_PATTERN = "<(?:edXML:)?Reference xmlns:xlink="
STATUS_TAGS = {
    "sender_code": ("ResponseFor", "OrganId"),
    "promulgation_date": ("PromulgationDate",),
    "document_id": ("DocumentId",),
    "receiver_code": ("From", "OrganId"),
    "status_code": ("StatusCode",),
    "description": ("Description",),
    "status_at": ("Timestamp",),
    "staff": ("Staff",),
}
# A status line in its canonical layout, split at "<", has each field at a fixed position:
# (position, the element's opening tag without its prefix). Since each of these tags occurs
# once in the grammar (OrganId twice, inside the fixed ResponseFor and From openings), a piece
# that starts with the expected tag (once an "edXML:" prefix is off) is that element, and the
# rest of the piece is its text.
STATUS_POSITIONS = {
    "sender_code": (6, "OrganId>"),
    "promulgation_date": (10, "PromulgationDate>"),
    "document_id": (12, "DocumentId>"),
    "receiver_code": (16, "OrganId>"),
    "status_code": (21, "StatusCode>"),
    "description": (23, "Description>"),
    "status_at": (25, "Timestamp>"),
    "staff": (30, "Staff>"),
}


def tag_pattern(path: tuple[str, ...]) -> str:
    """The opening tags of ``path`` (local names) as a regex, with or without the prefix."""
    return BLANKS.join(f"<(?:edXML:)?{name}>" for name in path)


MESSAGE_FIELDS = (*MESSAGE_TAGS, "receivers", "is_signed", "attachment_count")
# ResponseFor/Code only serves to rebuild a missing DocumentId: never on the fast path
STATUS_FIELDS = (*STATUS_TAGS, "code")
