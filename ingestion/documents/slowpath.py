"""The slow path: a real XML parser for the lines the grammar does not accept, and the record
key of a line no parser can read.

Lines the grammar does not accept are faults, but also valid edXML written otherwise
(whitespace between tags, CDATA, comments, another element order). The parser
(:mod:`xml.etree.ElementTree`) is the arbiter: it rejects what is not well-formed and reads
fields by path from what is. Both paths read the same fields (tested line by line and on
randomly mutated lines), and a broken or truncated line is never loaded.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from xml.parsers import expat

from ingestion.documents.grammar import DSIG_NS, NS
from ingestion.documents.tables import MESSAGES_SOURCE

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
