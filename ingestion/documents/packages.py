"""edXML packages as a document system keeps them: one ``.edxml`` file per message, a day's
messages in a zip archive or a folder (see :mod:`simulator.edxml_files` for the layout).

Each message is one record, however it is laid out: a pretty-printed message is one message,
not a hundred fragments. The connector looks for a day's messages in this order::

    documents.edxml.zip   documents/*.edxml   documents.edxml.lines.gz (one message a line)
    status.edxml.zip      status/*.edxml      status.edxml.lines.gz

A zip is read by its central directory here, each entry inflated with ISA-L and its CRC
checked (Python's :mod:`zipfile` costs ~20 µs an entry, several times as much; it remains the
reader of archives this one does not handle, zip64 extras or entries stored otherwise). An
archive without its central directory (cut, or still being written) fails the day; one entry
that cannot be read (bad CRC, broken deflate, encrypted) is a rejected record of its own.

The grammar (:mod:`~ingestion.documents.grammar`) takes a pretty-printed message as it
came: it allows blanks between two tags, where they mean nothing to the fields read (a leaf
holding only blanks reads as empty either way); the parser, the arbiter, reads the message as
it came too. Rejections and the landing keep the message as it came, and name it
``<file>:<entry>``.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
from isal import isal_zlib

from core.errors import SourceError
from ingestion.documents.tables import FILES, MESSAGES_SOURCE, REGISTER_SOURCE, STATUS_SOURCE
from ingestion.lines import Block

ENTRY_SUFFIX = ".edxml"
MESSAGE_SUFFIXES = (ENTRY_SUFFIX, ".xml")  # what a file holding one message is named
# Where a day's messages may be, in the order they are looked for.
BATCH_FILES = {
    REGISTER_SOURCE: (FILES[REGISTER_SOURCE],),
    MESSAGES_SOURCE: ("documents.edxml.zip", "documents", FILES[MESSAGES_SOURCE]),
    STATUS_SOURCE: ("status.edxml.zip", "status", FILES[STATUS_SOURCE]),
}
_END = struct.Struct("<IHHHHIIH")
_END64 = struct.Struct("<IQHHIIQQQQ")
_LOCATOR = struct.Struct("<IIQI")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_LOCAL_NAME = struct.Struct("<HH")


def batch_file(directory: Path, source: str) -> Path | None:
    """Where ``directory`` (a day) holds ``source``'s records, or None while it holds none."""
    for name in BATCH_FILES[source]:
        path = directory / name
        if path.exists():
            return path
    return None


def expected_files(source: str) -> str:
    names = [f"{n}/" if "." not in n else n for n in BATCH_FILES[source]]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


def is_package_file(path: Path) -> bool:
    return path.is_dir() or path.suffix == ".zip"


def read_packages(path: Path, origin: str) -> tuple[Block, dict[int, str]]:
    """The messages of a daily zip or folder, one record each, as read; and the entries that
    could not be read, with why (their record holds the bytes as stored)."""
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir() if p.is_file())
        contents = [(path / name).read_bytes() for name in names]
        problems = {i: _not_a_message(n) for i, n in enumerate(names) if not _is_message(n)}
    else:
        names, contents, problems = _read_zip(path, origin)
    lines = _binary_array(contents)
    numbers = np.arange(1, len(contents) + 1)
    block = Block(origin, lines, numbers, path.stat().st_size if path.is_file() else 0,
                  len(contents) + 1, tuple(names))  # fmt: skip
    return block, problems


def _binary_array(contents: list[bytes]) -> pa.LargeBinaryArray:
    """The entries as one Arrow array, its data allocated once at its full size:
    ``pa.array`` grows its buffer entry by entry, and the reallocations of a day's ~70 MB of
    documents cost it ~0.5 s of CPU, ten times this."""
    offsets = np.zeros(len(contents) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, contents), np.int64, len(contents)), out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(contents))]
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(contents), buffers)


def _read_zip(path: Path, origin: str) -> tuple[list[str], list[bytes], dict[int, str]]:
    data = path.read_bytes()
    try:
        return _read_zip_fast(data)
    except _Unusual:
        return _read_zip_general(path, origin)
    except (struct.error, ValueError, IndexError) as error:
        raise SourceError(f"documents: {origin} is not a complete zip archive: {error}") from error


class _Unusual(Exception):
    """An archive this reader leaves to :mod:`zipfile`."""


def _directory(data: bytes) -> tuple[int, int]:
    """(entry count, offset of the central directory), zip64 included."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end < 0:
        raise ValueError("no end of central directory (cut, or still being written)")
    _, _, _, _, count, _, offset, _ = _END.unpack_from(data, end)
    if count == 0xFFFF or offset == 0xFFFFFFFF:
        locator = end - _LOCATOR.size
        signature, _, end64, _ = _LOCATOR.unpack_from(data, locator)
        if signature != 0x07064B50:
            raise ValueError("a zip64 archive without its zip64 end locator")
        signature, _, _, _, _, _, _, count, _, offset = _END64.unpack_from(data, end64)
        if signature != 0x06064B50:
            raise ValueError("a zip64 archive without its zip64 end record")
    return count, offset


def _read_zip_fast(data: bytes) -> tuple[list[str], list[bytes], dict[int, str]]:
    count, position = _directory(data)
    view = memoryview(data)
    unpack, inflate, crc32 = _CENTRAL.unpack_from, isal_zlib.decompress, isal_zlib.crc32
    names: list[str] = []
    contents: list[bytes] = []
    problems: dict[int, str] = {}
    for index in range(count):
        (signature, _, _, flags, method, _, _, crc, stored, size, name_length, extra_length,
         comment_length, _, _, _, offset) = unpack(data, position)  # fmt: skip
        if signature != 0x02014B50:
            raise ValueError(f"entry {index + 1}: not a central directory record")
        if stored == 0xFFFFFFFF or size == 0xFFFFFFFF or offset == 0xFFFFFFFF:
            raise _Unusual  # zip64 sizes in the extra field
        start = position + _CENTRAL.size
        name = bytes(view[start : start + name_length]).decode(
            "utf-8" if flags & 0x800 else "cp437"
        )
        position = start + name_length + extra_length + comment_length
        local_name, local_extra = _LOCAL_NAME.unpack_from(data, offset + 26)
        begin = offset + 30 + local_name + local_extra
        raw = view[begin : begin + stored]
        if name.endswith("/"):
            continue  # a folder
        if not _is_message(name):
            problems[len(contents)] = _not_a_message(name)
        names.append(name)
        if flags & 0x1:
            problems[len(contents)] = f"unreadable zip entry {name}: encrypted"
            contents.append(bytes(raw))
            continue
        try:
            if method == 8:
                content = inflate(raw, -15)  # a size hint makes ISA-L slower here
            elif method == 0:
                content = bytes(raw)
            else:
                raise ValueError(f"compression method {method} not supported")
            if crc32(content) != crc or len(content) != size:
                raise ValueError("its CRC or size does not match the archive's directory")
        except (ValueError, isal_zlib.error) as error:
            problems[len(contents)] = f"unreadable zip entry {name}: {error}"
            content = bytes(raw)
        contents.append(content)
    return names, contents, problems


def _read_zip_general(path: Path, origin: str) -> tuple[list[str], list[bytes], dict[int, str]]:
    names: list[str] = []
    contents: list[bytes] = []
    problems: dict[int, str] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                if not _is_message(info.filename):
                    problems[len(contents)] = _not_a_message(info.filename)
                names.append(info.filename)
                try:
                    contents.append(archive.read(info))
                except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError) as error:
                    problems[len(contents)] = f"unreadable zip entry {info.filename}: {error}"
                    contents.append(b"")
    except zipfile.BadZipFile as error:
        raise SourceError(f"documents: {origin} is not a complete zip archive: {error}") from error
    return names, contents, problems


def _is_message(name: str) -> bool:
    return name.lower().endswith(MESSAGE_SUFFIXES)


def _not_a_message(name: str) -> str:
    return f"not an edXML message file: {name} (a message is a .edxml or .xml file)"
