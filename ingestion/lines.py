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
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from isal import igzip, isal_zlib

from core.errors import SourceError

# A block is a whole number of DuckDB row groups (122,880 rows), so that each commit of a
# clean block adds full row groups. Blocks cut by size left a part-filled row group at every
# commit, which DuckDB's checkpoint then rewrote: more CPU and a larger warehouse
# (bench/README.md, shared code).
ROW_GROUP_ROWS = 122_880
BLOCK_LINES = 2 * ROW_GROUP_ROWS
READ_BYTES = 16 * 2**20  # read a few MiB at a time: a block is cut at its last line's end
# Parsed lines come back from DuckDB in Arrow batches of this many rows: a batch's buffers
# stay small enough for the allocator to reuse, where a block's whole columns were mapped and
# faulted in afresh (fewer page faults, less system time: bench/README.md, shared code).
ARROW_BATCH_ROWS = ROW_GROUP_ROWS
HEAD_BYTES = 4096  # a file's fingerprint: its first bytes

NOT_UTF8 = "not valid UTF-8 (the export's encoding); payload kept decoded as Windows-1258"
NOT_JSON = "not valid JSON (a broken or truncated line)"
NOT_OBJECT = "not a JSON object (a record the source could not encode as UTF-8 JSON)"


def without_line_end(line: bytes) -> bytes:
    return line.removesuffix(b"\n").removesuffix(b"\r")


def decode_for_storage(line: bytes) -> str:
    """A line as text for a rejected record's payload, whatever its encoding, without its
    line end."""
    line = without_line_end(line)
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return line.decode("cp1258")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def too_large(lines: pa.Array, max_bytes: int | None) -> dict[int, str]:
    """The records over ``max_bytes`` (line end excluded): index → why they are rejected."""
    if max_bytes is None or len(lines) == 0:
        return {}
    sizes = pc.binary_length(lines).to_numpy(zero_copy_only=False)
    found = {}
    for index in np.flatnonzero(sizes > max_bytes):  # with the line end: a few candidates
        size = len(without_line_end(lines[int(index)].as_py()))
        if size > max_bytes:
            found[int(index)] = too_large_reason(size, max_bytes)
    return found


def too_large_reason(size: int, max_bytes: int) -> str:
    return f"record too large: {size:,} bytes, over the limit of {max_bytes:,} bytes"


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
    # A JSON-lines file's lines each with its line end (a last line without one gets one):
    # views of the bytes read, not copies. JSON ignores it; rejections drop it; the landing
    # keeps the line as read. A JSON array's records have none.
    lines: pa.LargeBinaryArray
    numbers: np.ndarray  # 1-based line number of each line in the file
    end: int  # byte offset just after the block
    next_line: int  # number of the line after the block
    # The records' names where each is a file of its own (an archive's entries): not numbered
    names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def line(self, index: int) -> bytes:
        """The line ``index`` without its line end."""
        return without_line_end(self.lines[index].as_py())

    def location(self, index: int) -> str:
        if self.names is not None:
            return f"{self.origin}:{self.names[index]}"
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
    data: bytes | memoryview | pa.Buffer,
    first_line: int,
    ends: np.ndarray | None = None,
    keep_line_ends: bool = False,
) -> tuple[pa.LargeBinaryArray, np.ndarray, int]:
    """The non-blank lines of ``data`` (which ends with a line end), their numbers, and the
    count of lines, blank ones included (a line of only whitespace is blank). ``ends``: the
    offsets of the line ends, when the caller has found them already. With
    ``keep_line_ends`` the lines end with their line end and are views of ``data`` (copies
    only when blank lines were left out); else copies without it."""
    buffer = np.frombuffer(data, np.uint8)
    if ends is None:
        ends = line_ends(buffer)
    offsets = np.empty(len(ends) + 1, np.int64)
    offsets[0] = 0
    offsets[1:] = ends + 1
    # One Arrow array over the block's bytes (each line with its line end), then the ends cut.
    values = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    whole = pa.Array.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), values]
    )
    lines = whole if keep_line_ends else pc.binary_slice(whole, 0, -1)
    numbers = np.arange(first_line, first_line + len(offsets) - 1, dtype=np.int64)
    lengths = np.diff(offsets) - 1
    carriage = (lengths > 0) & (buffer[np.maximum(offsets[1:] - 2, 0)] == 13)
    if carriage.any():  # CRLF line ends (rare in these exports): the CR is no content either
        stops = offsets[1:] - 1 - carriage
        if not keep_line_ends:
            lines = pa.array(
                [buffer[a:b].tobytes() for a, b in zip(offsets[:-1], stops, strict=True)],
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


def _block_pool() -> pa.MemoryPool:
    """Where blocks live: Arrow's jemalloc pool. With the default pool (mimalloc) the kernel
    spent more time on the blocks' memory and the load took longer (fewer page faults,
    dearer ones; measured, the cause not pinned down: bench/README.md, shared code). The
    default pool where pyarrow has no jemalloc."""
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:
        return pa.default_memory_pool()


BLOCK_POOL = _block_pool()


def _allocate(size: int, start: pa.Buffer | None = None) -> pa.Buffer:
    """A buffer of ``size`` bytes from the blocks' pool, beginning with ``start``."""
    buffer = pa.allocate_buffer(size, memory_pool=BLOCK_POOL)
    if start is not None and start.size:
        with memoryview(buffer).cast("B") as view:
            view[: start.size] = memoryview(start).cast("B")
    return buffer


def read_blocks(
    path: Path, origin: str, start: int = 0, first_line: int = 1, block_lines: int | None = None
) -> Iterator[Block]:
    """The file's lines from byte ``start`` on, in blocks of ``block_lines`` lines (blank ones
    included; the last block may be shorter), each line with its line end. Each block's bytes
    are read once, into a buffer its lines are views of: cutting the line ends off copied
    every block once more (more CPU and memory: bench/README.md, shared code)."""
    block_lines = block_lines or BLOCK_LINES
    with _open(path) as handle:
        if start:
            handle.seek(start)
        position, line_number = start, first_line
        pending: pa.Buffer | None = None  # read already: the start of the next block
        pending_ends = np.empty(0, np.int64)
        capacity = 4 * READ_BYTES  # grows to the size of a block
        at_end = False
        while not at_end:
            filled = pending.size if pending is not None else 0
            buffer = _allocate(max(capacity, filled + READ_BYTES), pending)
            ends = [pending_ends]
            found = len(pending_ends)
            while found < block_lines:
                if filled + READ_BYTES > buffer.size:  # a block longer than thought: move it
                    capacity = 2 * buffer.size
                    buffer = _allocate(capacity, buffer.slice(0, filled))
                with memoryview(buffer).cast("B") as view:
                    try:
                        read = handle.readinto(view[filled : filled + READ_BYTES])
                    except (EOFError, OSError, zlib.error, isal_zlib.error) as error:
                        # A cut or damaged archive: what was read before is loaded, the
                        # rest waits for a fixed file (read again from where this stopped).
                        raise SourceError(
                            f"{origin}: the file is cut or damaged after byte "
                            f"{position + filled:,} of its content ({error})"
                        ) from error
                if not read:
                    at_end = True
                    break
                new = line_ends(np.frombuffer(buffer, np.uint8, read, filled)) + filled
                ends.append(new)
                found += len(new)
                filled += read
            all_ends = np.concatenate(ends)
            begin = used = 0
            while len(all_ends) - used >= block_lines:  # a buffer can hold several blocks
                block_ends = all_ends[used : used + block_lines] - begin
                size = int(block_ends[-1]) + 1
                capacity = max(capacity, size + size // 8 + READ_BYTES)
                lines, numbers, _ = split_lines(
                    buffer.slice(begin, size), line_number, block_ends, keep_line_ends=True
                )
                position, line_number = position + size, line_number + block_lines
                yield Block(origin, lines, numbers, position, line_number)
                begin, used = begin + size, used + block_lines
            pending, pending_ends = buffer.slice(begin, filled - begin), all_ends[used:] - begin
        # The end of the file: its whole lines left, and a last line without its line end.
        assert pending is not None
        data, ends = pending, pending_ends
        tail_at = int(ends[-1]) + 1 if len(ends) else 0
        if memoryview(data)[tail_at:].tobytes().strip():
            data = _allocate(data.size + 1, data)
            with memoryview(data).cast("B") as view:
                view[-1] = 10
            ends = np.append(ends, data.size - 1)
            position -= 1  # the line end added is not in the file
            tail_at = data.size
        if len(ends):
            lines, numbers, count = split_lines(
                data.slice(0, tail_at), line_number, ends, keep_line_ends=True
            )
            yield Block(origin, lines, numbers, position + tail_at, line_number + count)


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
                    -- ltrim copies the line: only for the rare line not starting with {{
                    when not starts_with(line, '{{') and not starts_with(ltrim(line), '{{')
                         then {_quoted(NOT_OBJECT)}
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

    def run(lines_query: str) -> pa.Table:
        query = f"select *{extra} from ({lines_query})"
        return connection.execute(query).to_arrow_table(ARROW_BATCH_ROWS)

    try:
        try:
            parsed = run(fast)
        except duckdb.InvalidInputException:  # a malformed line: check every line first
            parsed = run(checked)
    finally:
        connection.unregister("_lines")
    order = parsed.column("_i").to_numpy()
    if not np.array_equal(order, np.arange(len(texts))):  # DuckDB keeps it; never rely on it
        parsed = parsed.take(np.argsort(order, kind="stable"))
    return parsed
