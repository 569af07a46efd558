"""The slow path: a real XML parser for the messages the grammar does not accept, and the
record key of a message no parser can read.

Messages the grammar does not accept are faults, but also valid edXML written otherwise
(pretty-printed, another namespace prefix, CDATA, comments, another element order). The
parser (lxml, i.e. libxml2) is the arbiter: it rejects what is not well-formed and reads
fields by namespace and path from what is.

It is hardened against hostile input: a message declaring a DTD (``<!DOCTYPE``, and so any
entity declaration) is refused, not parsed into a row, since QCVN 102:2016 edXML messages
carry none; entities are never expanded, nothing is fetched from the network, no DTD is
loaded. Of the elements QCVN 102:2016 requires in a ``MessageHeader`` (and a ``Status``),
a message missing one is rejected naming it; the fields the loader needs are then checked
by the contracts (:mod:`~ingestion.documents.contracts`). Both paths read the same fields
(tested message by message and on randomly mutated and generated messages), and a broken or
truncated message is never loaded.
"""

from __future__ import annotations

import re
import threading

from lxml import etree

from ingestion.documents.grammar import DSIG_NS, NS
from ingestion.documents.tables import MESSAGES_SOURCE

_E, _DS = f"{{{NS}}}", f"{{{DSIG_NS}}}"
_XML_SPACE = b" \t\r\n"
DTD_REFUSED = (
    "refused: the message declares a DTD (<!DOCTYPE>); edXML messages (QCVN 102:2016) carry "
    "none, and entity declarations are never expanded"
)
# Elements QCVN 102:2016 requires, as (path from the MessageHeader / Status, name in reasons).
REQUIRED_IN_HEADER = (
    (f"{_E}From", "MessageHeader/From"),
    (f"{_E}To", "MessageHeader/To"),
    (f"{_E}Code", "MessageHeader/Code"),
    (f"{_E}PromulgationInfo", "MessageHeader/PromulgationInfo"),
    (f"{_E}DocumentType", "MessageHeader/DocumentType"),
    (f"{_E}Subject", "MessageHeader/Subject"),
    (f"{_E}SignerInfo", "MessageHeader/SignerInfo"),
)
REQUIRED_IN_STATUS = (
    (f"{_E}ResponseFor", "Status/ResponseFor"),
    (f"{_E}From", "Status/From"),
    (f"{_E}StatusCode", "Status/StatusCode"),
    (f"{_E}Timestamp", "Status/Timestamp"),
)
# libxml2 errors that a complete last token can cause: at the end of a message, not truncation
# (tag name mismatch, extra content, undeclared entity, invalid character).
_COMPLETE_BUT_WRONG = {76, 5, 26, 9}
_ROOT_START = re.compile(rb"<[^?!]")  # the first element's start tag ends the prolog
_parsers = threading.local()  # an lxml parser is not to be shared between threads


def _parser() -> etree.XMLParser:
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,  # an entity reference is never replaced by anything
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            remove_comments=True,
            remove_pis=True,
            huge_tree=True,  # attachments are large base64 text; a DTD is refused anyway
            collect_ids=False,
        )
        _parsers.parser = parser
    return parser


def _parse_xml(message: bytes) -> etree._Element | str:
    """The root element, or why the message is not a well-formed XML document (or refused)."""
    message = message.rstrip(_XML_SPACE)  # what follows the root may only be blank anyway
    root_start = _ROOT_START.search(message)
    if b"<!DOCTYPE" in message[: root_start.start() if root_start else len(message)]:
        return DTD_REFUSED  # refused before parsing: libxml2 would read an external subset
    try:
        root = etree.fromstring(message, _parser())
    except etree.XMLSyntaxError as error:
        line_number, column = error.position
        where = f"line {line_number}, column {column}"
        lines = message.split(b"\n")
        at_end = line_number >= len(lines) and column > len(lines[-1].decode("utf-8", "replace"))
        if not message or (at_end and error.code not in _COMPLETE_BUT_WRONG):
            return f"truncated XML: the message ends before its root closes ({error.msg})"
        return f"malformed XML: {error.msg.removesuffix(f', {where}')} ({where})"
    except (ValueError, LookupError) as error:  # e.g. an encoding declaration lxml refuses
        return f"malformed XML: {error}"
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        return DTD_REFUSED
    return root


def _envelope(root: etree._Element) -> etree._Element | None:
    if root.tag == f"{_E}edXMLEnvelope":
        return root
    return root.find(f"{_E}edXMLEnvelope")  # the SDK's <edXML> file wrapper


def _leaf_text(element: etree._Element) -> str:
    return "".join(element.itertext())  # text split by a removed comment or CDATA, joined


def _text(element: etree._Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    return (_leaf_text(found) or None) if found is not None else None


def _missing(parent: etree._Element, required: tuple[tuple[str, str], ...]) -> str | None:
    for path, name in required:
        if parent.find(path) is None:
            return f"missing required field: {name} (required by QCVN 102:2016 edXML)"
    return None


def slow_message(message: bytes) -> dict[str, object] | str:
    """The fields of a document message read by path, or why it cannot be read."""
    root = _parse_xml(message)
    if isinstance(root, str):
        return root
    envelope = _envelope(root)
    header = None if envelope is None else envelope.find(f"{_E}edXMLHeader/{_E}MessageHeader")
    if envelope is None or header is None:
        return "not an edXML document message (no edXMLEnvelope/edXMLHeader/MessageHeader)"
    missing = _missing(header, REQUIRED_IN_HEADER)
    if missing:
        return missing
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
    fields["receivers"] = [_text(to, f"{_E}OrganId") or "" for to in header.findall(f"{_E}To")]
    fields["is_signed"] = envelope.find(f"{_E}edXMLHeader/{_DS}Signature") is not None
    fields["attachment_count"] = len(
        envelope.findall(f"{_E}edXMLBody/{_E}edXMLManifest/{_E}Reference")
    )
    return fields


def slow_status(message: bytes) -> dict[str, object] | str:
    """The fields of a status message read by path, or why it cannot be read."""
    root = _parse_xml(message)
    if isinstance(root, str):
        return root
    envelope = _envelope(root)
    status = None if envelope is None else envelope.find(f"{_E}edXMLHeader/{_E}Status")
    if status is None:
        return "not an edXML status message (no edXMLEnvelope/edXMLHeader/Status)"
    missing = _missing(status, REQUIRED_IN_STATUS)
    if missing:
        return missing
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


def _any_prefix(tags: str) -> str:
    """A regex of ``tags`` with any namespace prefix (or none) and blanks between them."""
    names = re.findall(r"<edXML:(\w+)>", tags)
    return r"\s*".join(rf"<(?:[\w.-]+:)?{name}>" for name in names)


# What an unreadable message still tells about itself, for its record key (any prefix).
_SALVAGE = {
    name: re.compile(_any_prefix(tag) + r"([^<]*)<")
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
