"""Personal data out of what the warehouse keeps of a rejected record.

A rejected record is kept with its reason so the data team can fix its source, but the
warehouse is read by analysts: its copy of the record must not carry the applicant's name,
phone, e-mail or identity number. The original stays in the landing zone (restricted, pruned
after the retention); ``ops.rejected_records.payload`` holds :func:`redact`'s form, which
works on any text — a JSON object, a broken one, an XML message or a CSV line — because a
rejected record is often one that could not be parsed.
"""

from __future__ import annotations

import re

REDACTED = "[personal data removed]"

#: JSON keys of personal values in the procedure system's payloads (the contracts' personal
#: fields; tests/test_privacy.py checks that every contract's personal field is here).
PERSONAL_KEYS = ("ChuHoSo", "SoDienThoaiChuHoSo", "EmailChuHoSo", "SoGiayToChuHoSo", "NguoiXuLy")
#: XML elements of personal values in edXML (QCVN 102:2016): the signer's and the staff's names.
PERSONAL_ELEMENTS = ("FullName", "Staff")

_KEYS = "|".join(PERSONAL_KEYS)
# "Key": "value" (escapes included), "Key": null stays, "Key": 123 (a number) too.
_JSON_VALUE = re.compile(rf'("(?:{_KEYS})"\s*:\s*)("(?:[^"\\]|\\.)*"?|-?\d[\d.eE+-]*)')
_ELEMENTS = "|".join(PERSONAL_ELEMENTS)
# <prefix:Element attributes>text</prefix:Element>, any namespace prefix, or none.
_XML_TEXT = re.compile(rf"(<(?:[\w.-]+:)?(?:{_ELEMENTS})(?:\s[^>]*)?>)([^<]*)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Vietnamese phone numbers (0 or +84 then 9 digits, spaces or dots allowed between groups) and
# identity numbers (9-digit identity cards, 12-digit citizen identity), standing alone.
_PHONE = re.compile(r"(?<![\w.])(?:\+84|84|0)(?:[\s.-]?\d){9}(?![\w])")
_IDENTITY = re.compile(r"(?<![\w.])(?:\d{12}|\d{9})(?![\w.])")


def redact(payload: str) -> str:
    """``payload`` with every personal value replaced by :data:`REDACTED`."""
    text = _JSON_VALUE.sub(lambda m: f'{m.group(1)}"{REDACTED}"', payload)
    text = _XML_TEXT.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _EMAIL.sub(REDACTED, text)
    text = _PHONE.sub(REDACTED, text)
    return _IDENTITY.sub(REDACTED, text)
