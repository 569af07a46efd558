"""Line-oriented exports read in bulk: blocks of lines, their encoding, JSON parsed by DuckDB.

A province-year of the procedure system is millions of JSON lines; reading them record by
record in Python costs minutes. Here a file is read in blocks of whole lines; a block's lines
stay one Arrow array (no Python object per line), and DuckDB's JSON reader turns them into
text columns in one vectorised pass. Lines that cannot be read — not UTF-8, not JSON, not an
object — are not lost: each gets a reason, so the connector rejects exactly those lines and
keeps the rest of the block. Clean blocks take the fast path (one parse per line); a block
with a malformed line is parsed again with every line checked first.

A file's progress is kept as a watermark (:class:`FileProgress`): per file, the bytes and
lines fully loaded and a fingerprint of its head, so a run resumes mid-file after a kill and a
file that was replaced (different head, or shorter) is read again from the start.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from isal import igzip

BLOCK_BYTES = 128 * 2**20  # ~140k dossier versions, over a row group; 256 MiB costs page faults
HEAD_BYTES = 4096  # a file's fingerprint: its first bytes

NOT_UTF8 = "not valid UTF-8 (the export's encoding); payload kept decoded as Windows-1258"
NOT_JSON = "not valid JSON (a broken or truncated line)"
NOT_OBJECT = "not a JSON object (a record the source could not encode as UTF-8 JSON)"


def decode_for_storage(line: bytes) -> str:
    """A line as text for a rejected record's payload, whatever its encoding."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return line.decode("cp1258")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def utf8_column(payload: pa.Array) -> tuple[pa.Array, list[int]]:
    """(the lines as a string array with nulls where invalid, indexes of invalid lines)."""
    target = pa.large_string() if pa.types.is_large_binary(payload.type) else pa.string()
    try:
        return payload.cast(target), []
    except pa.ArrowInvalid:
        pass
    texts: list[str | None] = []
    bad: list[int] = []
    for index, line in enumerate(payload.to_pylist()):
        try:
            texts.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(None)
            bad.append(index)
    return pa.array(texts, target), bad


@dataclass(frozen=True, slots=True)
class Block:
    """Consecutive non-blank lines of an export file."""

    origin: str  # the file, as named in rejections and the landing zone
    lines: pa.LargeBinaryArray  # without their line ends
    numbers: np.ndarray  # 1-based line number of each line in the file
    end: int  # byte offset just after the block
    next_line: int  # number of the line after the block

    def __len__(self) -> int:
        return len(self.lines)

    def line(self, index: int) -> bytes:
        return self.lines[index].as_py()

    def location(self, index: int) -> str:
        return f"{self.origin}:{self.numbers[index]}"


SCAN_BYTES = 4 * 2**20  # newlines are found a few MiB at a time: no block-sized mask
BLANK_CANDIDATE_BYTES = 16  # a line this short may be whitespace only


def line_ends(buffer: np.ndarray) -> np.ndarray:
    """Offsets of the newline bytes in ``buffer``."""
    found = [
        np.flatnonzero(buffer[start : start + SCAN_BYTES] == 10) + start
        for start in range(0, len(buffer), SCAN_BYTES)
    ]
    return np.concatenate(found) if found else np.empty(0, np.int64)


def split_lines(
    data: bytes | memoryview, first_line: int
) -> tuple[pa.LargeBinaryArray, np.ndarray, int]:
    """The non-blank lines of ``data`` (which ends with a line end), their numbers, and the
    count of lines, blank ones included (a line of only whitespace is blank)."""
    buffer = np.frombuffer(data, np.uint8)
    ends = line_ends(buffer)
    offsets = np.empty(len(ends) + 1, np.int64)
    offsets[0] = 0
    offsets[1:] = ends + 1
    # One Arrow array over the block's bytes (each line with its line end), then the ends cut.
    whole = pa.Array.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    lines = pc.binary_slice(whole, 0, -1)
    numbers = np.arange(first_line, first_line + len(offsets) - 1, dtype=np.int64)
    lengths = np.diff(offsets) - 1
    carriage = (lengths > 0) & (buffer[np.maximum(offsets[1:] - 2, 0)] == 13)
    if carriage.any():  # CRLF line ends (rare in these exports): cut the CR too
        stops = offsets[1:] - 1 - carriage
        lines = pa.array(
            [bytes(data[a:b]) for a, b in zip(offsets[:-1], stops, strict=True)],
            pa.large_binary(),
        )
        lengths = stops - offsets[:-1]
    # Blank lines (empty, or nothing but whitespace) are no records; only short ones can be.
    blank = lengths == 0
    for index in np.flatnonzero((lengths > 0) & (lengths <= BLANK_CANDIDATE_BYTES)).tolist():
        blank[index] = not lines[index].as_py().strip()
    if blank.any():
        lines, numbers = lines.filter(pa.array(~blank)), numbers[~blank]
    return lines, numbers, len(ends)


def _open(path: Path) -> BinaryIO:
    if path.name.endswith(".gz"):
        return igzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def head_fingerprint(path: Path) -> str:
    with _open(path) as handle:
        return hashlib.sha256(handle.read(HEAD_BYTES)).hexdigest()[:16]


def read_blocks(
    path: Path, origin: str, start: int = 0, first_line: int = 1, block_bytes: int | None = None
) -> Iterator[Block]:
    """The file's lines from byte ``start`` on, in blocks of whole lines."""
    block_bytes = block_bytes or BLOCK_BYTES
    with _open(path) as handle:
        if start:
            handle.seek(start)
        position, line_number, carry = start, first_line, b""
        while True:
            chunk = handle.read(block_bytes)
            if chunk:
                cut = chunk.rfind(b"\n") + 1
                if cut == 0:  # a line longer than a block: read on
                    carry += chunk
                    continue
                # One copy at most: the carried start of a line, then the whole lines read.
                whole = memoryview(chunk)[:cut]
                data = bytes(whole) if not carry and cut < len(chunk) else chunk
                if carry:
                    data = b"".join((carry, whole))
                carry = chunk[cut:]
                consumed = len(data)
            elif carry.strip():  # a last line without its line end still counts
                data, consumed, carry = carry + b"\n", len(carry), b""
            else:
                return
            lines, numbers, count = split_lines(data, line_number)
            position += consumed
            line_number += count
            yield Block(origin, lines, numbers, position, line_number)


@dataclass(slots=True)
class FileProgress:
    """How far each export file of a source has been loaded (the source's watermark)."""

    files: dict[str, dict[str, object]] = field(default_factory=dict)

    @classmethod
    def parse(cls, watermark: str | None) -> FileProgress:
        if not watermark:
            return cls()
        try:
            state = json.loads(watermark)
        except json.JSONDecodeError:
            state = None
        if not isinstance(state, dict) or not isinstance(state.get("files"), dict):
            raise ValueError(
                f"the watermark {watermark[:80]!r} is not a file-export watermark (was the source "
                "read through its API before?); reset it in ops.source_state to read the files"
            )
        return cls(state["files"])

    def dumps(self) -> str:
        return json.dumps({"files": self.files}, sort_keys=True, separators=(",", ":"))

    def resume_point(self, name: str, head: str, size: int) -> tuple[int, int]:
        """(byte offset, line number) to read ``name`` from; (0, 1) when new or replaced."""
        done = self.files.get(name)
        if not done or done.get("head") != head or int(str(done["offset"])) > size:
            return 0, 1
        return int(str(done["offset"])), int(str(done["line"]))

    def advance(self, name: str, head: str, offset: int, line: int) -> None:
        self.files[name] = {"head": head, "offset": offset, "line": line}


def struct_spec(fields: Sequence[str], json_fields: Sequence[str] = ()) -> str:
    """DuckDB's ``from_json`` structure: scalars as the text they were sent as, JSON as JSON."""
    structure = {name: "VARCHAR" for name in fields} | {name: "JSON" for name in json_fields}
    return _quoted(json.dumps(structure, ensure_ascii=False))


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parse_objects(
    connection: duckdb.DuckDBPyConnection,
    texts: pa.Array,
    fields: Sequence[str],
    json_fields: Sequence[str] = (),
    derived: Mapping[str, str] | None = None,
) -> pa.Table:
    """Each line of ``texts`` (strings, null where not UTF-8) parsed in one DuckDB pass.

    Returns one row per line, in line order: ``_i`` (the line's index), ``_problem`` (why the
    line cannot be read, else null), each of ``fields`` as the text it was sent as (numbers
    and booleans as JSON writes them, objects as JSON), each of ``json_fields`` as JSON text,
    and ``derived`` columns: SQL expressions over those columns.
    """
    lines = pa.table({"_i": pa.array(np.arange(len(texts), dtype=np.int64)), "line": texts})
    connection.register("_lines", lines)
    spec = struct_spec(fields, json_fields)
    extra = "".join(f', {sql} as "{name}"' for name, sql in (derived or {}).items())
    fast = f"""
        select _i,
               case when line is null then {_quoted(NOT_UTF8)}
                    when not starts_with(ltrim(line), '{{') then {_quoted(NOT_OBJECT)}
               end as _problem,
               unnest(from_json(line, {spec}))
        from _lines
    """
    checked = f"""
        with read as (
            select _i, line,
                   case when line is null then {_quoted(NOT_UTF8)}
                        when not json_valid(line) then {_quoted(NOT_JSON)}
                        when json_type(line) <> 'OBJECT' then {_quoted(NOT_OBJECT)}
                   end as _problem
            from _lines
        )
        select _i, _problem,
               unnest(case when _problem is null then from_json(line, {spec}) end)
        from read
    """
    query = "select *{extra} from ({query})"
    try:
        try:
            parsed = connection.execute(query.format(extra=extra, query=fast)).to_arrow_table()
        except duckdb.InvalidInputException:  # a malformed line: check every line first
            parsed = connection.execute(query.format(extra=extra, query=checked)).to_arrow_table()
    finally:
        connection.unregister("_lines")
    order = parsed.column("_i").to_numpy()
    if not np.array_equal(order, np.arange(len(texts))):  # DuckDB keeps it; never rely on it
        parsed = parsed.take(np.argsort(order, kind="stable"))
    return parsed
