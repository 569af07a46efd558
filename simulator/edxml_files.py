"""edXML messages as a document system delivers them: one package per message.

A real document management system keeps each edXML message (QCVN 102:2016/BTTTT, amended
2022) as a file of its own (``.edxml``), usually pretty-printed, with the namespace prefix its
software chose, the attachments inside as base64 wrapped at 76 characters (MIME), and hands a
day over as a folder of such files or as a zip of them. This module turns the generator's
canonical one-line messages into those packages, so that every container holds the same
messages (and the marts built from any of them are the same)::

    date=YYYY-MM-DD/documents.edxml.zip   one entry NNNNNN.edxml per document message (zip)
    date=YYYY-MM-DD/status.edxml.zip      one entry NNNNNN.edxml per status message
    date=YYYY-MM-DD/documents/NNNNNN.edxml, status/NNNNNN.edxml                 (folder)

Entries are numbered in generation order (a message written twice by a ``duplicate`` fault
is two entries). A package is pretty-printed (an element per line, two spaces per level); a
tenth of the agencies' systems write the edXML namespace as the default namespace instead of
the ``edXML:`` prefix; each document carries an attachment of a few KB, one in a thousand a
large one (256 KB to 1 MB), deterministic for the seed. Faults spoil the message before it is
packaged, so a truncated message is a truncated file.

The zip is written here (stored deflated, fixed entry times, no extra fields), so the same
seed gives the same bytes; a day of more than 65,535 messages gets the zip64 end records.
"""

from __future__ import annotations

import random
import shutil
import struct
import tempfile
import zlib
from base64 import b64encode
from collections.abc import Callable
from datetime import date
from io import BufferedWriter
from pathlib import Path
from typing import IO

try:  # ISA-L's deflate: the same format, several times faster than zlib
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - depends on the environment
    import zlib as _zlib  # type: ignore[no-redef]

CONTAINERS = ("zip", "folder", "lines")
# The line-packed file of each kind of message, and its package forms.
PACKAGE_NAMES = {
    "documents.edxml.lines.gz": {"zip": "documents.edxml.zip", "folder": "documents"},
    "status.edxml.lines.gz": {"zip": "status.edxml.zip", "folder": "status"},
}
ENTRY_SUFFIX = ".edxml"
DEFAULT_NAMESPACE_SHARE = 10  # one agency system in this many writes no prefix
LARGE_ATTACHMENT_EVERY = 1000
WRAP = 76  # base64 characters per line, as MIME writes them
_LOCAL = struct.Struct("<IHHHHHIIIHH")  # a zip entry's local header (UTF-8 names: flag 0x800)
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")  # its central directory record
_INDENT = [b"\n" + b"  " * depth for depth in range(64)]
_WORDS = (b"BT /F1 11 Tf 72 720 Td (Van ban) Tj ET", b"0 0 0 rg", b"q 1 0 0 1 0 0 cm",
          b"Q", b"/Length 4096", b"stream", b"endstream", b"re f",
          b"BT /F2 9 Tf (Trang) Tj ET")  # fmt: skip


def package_name(line_file: str, container: str) -> str:
    """The file (zip, folder) a container keeps a kind of message in."""
    if container == "lines":
        return line_file
    return PACKAGE_NAMES[line_file][container]


def _pdf(rng: random.Random, size: int) -> bytes:
    """A placeholder PDF of about ``size`` bytes (page content streams: compresses well)."""
    body = bytearray(b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n")
    while len(body) < size:
        body += b" ".join(rng.choice(_WORDS) for _ in range(8)) + b"\n"
    return bytes(body[:size]) + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def _wrapped(data: bytes) -> bytes:
    text = b64encode(data)
    return b"\r\n".join(text[i : i + WRAP] for i in range(0, len(text), WRAP))


class Packager:
    """Turns canonical one-line messages into the packages a system keeps (deterministic)."""

    def __init__(self, seed: int, placeholder_b64: str) -> None:
        rng = random.Random(f"edxml-files-{seed}")
        self.placeholder = b"<ContentTransferEncoded>" + placeholder_b64.encode()
        self.small = [
            b"<ContentTransferEncoded>\r\n" + _wrapped(_pdf(rng, rng.randint(1_500, 4_500)))
            for _ in range(32)
        ]
        self.large = [
            b"<ContentTransferEncoded>\r\n" + _wrapped(_pdf(rng, rng.randint(192_000, 768_000)))
            for _ in range(4)
        ]

    def document(self, line: bytes) -> bytes:
        mark = zlib.crc32(line)
        pool = self.large if mark % LARGE_ATTACHMENT_EVERY == 0 else self.small
        line = line.replace(self.placeholder, pool[mark % len(pool)])
        return pretty(self._namespace(line))

    def status(self, line: bytes) -> bytes:
        return pretty(self._namespace(line))

    @staticmethod
    def _namespace(line: bytes) -> bytes:
        """The edXML namespace as the default one, for a tenth of the senders' systems."""
        start = line.find(b"<edXML:OrganId>")
        sender = line[start + 15 : line.find(b"<", start + 15)] if start >= 0 else b""
        if zlib.crc32(sender) % DEFAULT_NAMESPACE_SHARE:
            return line
        return (
            line.replace(b' xmlns:edXML="', b' xmlns="')
            .replace(b"<edXML:", b"<")
            .replace(b"</edXML:", b"</")
        )


def pretty(line: bytes) -> bytes:
    """An element per line, two spaces per level (a leaf's text and an empty element stay on
    their line)."""
    tokens = line.split(b"><")
    out = [tokens[0]]
    depth, opened = 0, False
    for token in tokens[1:]:
        if token[:1] == b"/":
            depth -= 1
            if opened:  # <x></x>: an empty element stays whole
                out.append(b"><" + token)
                opened = False
                continue
            out.append(b">" + _INDENT[min(max(depth, 0), 63)] + b"<" + token)
            continue
        out.append(b">" + _INDENT[min(max(depth, 0), 63)] + b"<" + token)
        opened = token[:1] not in (b"?", b"!") and token[-1:] != b"/" and b"</" not in token
        if opened:
            depth += 1
    return b"".join(out) + b"\n"


def _dos_date(day: date) -> tuple[int, int]:
    return 0, ((day.year - 1980) << 9) | (day.month << 5) | day.day


class ZipPackages:
    """A daily zip of ``.edxml`` entries, written as messages come (reproducible bytes)."""

    def __init__(self, path: Path, day: date, package: Callable[[bytes], bytes]) -> None:
        self.path = path
        self.package = package
        self.handle: BufferedWriter | None = None
        # the central directory grows with the day: spooled to disk, not held in memory
        self.central: IO[bytes] | None = None
        self.central_size = 0
        self.offset = 0
        self.count = 0
        self.time, self.date = _dos_date(day)

    def write(self, data: bytes) -> None:
        if self.handle is None:  # opened by the writer thread, on first use
            self.handle = open(self.path, "wb")  # noqa: SIM115
        parts, central = [], []
        for line in data.split(b"\n"):
            if not line:
                continue
            self.count += 1
            name = b"%06d" % self.count + ENTRY_SUFFIX.encode()
            content = self.package(line)
            compressed = _zlib.compress(content, 1, -15)
            crc = _zlib.crc32(content)
            if self.offset > 0xFFFFFFFF:
                raise ValueError(f"{self.path}: a daily archive over 4 GiB")
            sizes = (crc, len(compressed), len(content), len(name))
            header = _LOCAL.pack(0x04034B50, 20, 0x800, 8, self.time, self.date, *sizes, 0)
            central += (_CENTRAL.pack(0x02014B50, 20, 20, 0x800, 8, self.time, self.date, *sizes,
                                      0, 0, 0, 0, 0, self.offset), name)  # fmt: skip
            parts += (header, name, compressed)
            self.offset += len(header) + len(name) + len(compressed)
        self.handle.write(b"".join(parts))
        if self.central is None:
            self.central = tempfile.TemporaryFile()  # noqa: SIM115
        records = b"".join(central)
        self.central.write(records)
        self.central_size += len(records)

    def close(self) -> None:
        if self.handle is None:
            self.handle = open(self.path, "wb")  # noqa: SIM115
        if self.central is not None:
            self.central.seek(0)
            shutil.copyfileobj(self.central, self.handle)
            self.central.close()
        start, size, count = self.offset, self.central_size, self.count
        tail = []
        if count > 0xFFFF or start + size > 0xFFFFFFFF:  # zip64 end record and its locator
            end64 = start + size
            tail.append(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count,
                                    size, start))  # fmt: skip
            tail.append(struct.pack("<IIQI", 0x07064B50, 0, end64, 1))
            tail.append(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF,
                                    min(size, 0xFFFFFFFF), min(start, 0xFFFFFFFF), 0))  # fmt: skip
        else:
            tail.append(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start, 0))
        self.handle.write(b"".join(tail))
        self.handle.close()


class FolderPackages:
    """A daily folder of ``.edxml`` files, one per message."""

    def __init__(self, path: Path, day: date, package: Callable[[bytes], bytes]) -> None:
        self.path = path
        self.package = package
        self.count = 0
        path.mkdir(parents=True, exist_ok=True)

    def write(self, data: bytes) -> None:
        for line in data.split(b"\n"):
            if line:
                self.count += 1
                (self.path / f"{self.count:06d}{ENTRY_SUFFIX}").write_bytes(self.package(line))

    def close(self) -> None:
        pass
