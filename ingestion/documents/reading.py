"""Reading a daily batch: the batch folders, a gzip export's lines, and one day read, landed
as read and checked (:func:`prepare_day`, in a worker thread: no warehouse access)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
from isal import igzip, isal_zlib

from core.errors import SourceError
from ingestion import landing, ledger
from ingestion.documents.agencies import AgencyDirectory
from ingestion.documents.checking import Prepared, prepare_messages, prepare_status
from ingestion.documents.fastpath import accepted_lines, fast_query
from ingestion.documents.packages import (
    batch_file,
    expected_files,
    is_package_file,
    read_packages,
)
from ingestion.documents.register import prepare_register
from ingestion.documents.tables import (
    BATCH_PREFIX,
    MESSAGES_SOURCE,
    REGISTER_SOURCE,
    STATUS_SOURCE,
)
from ingestion.lines import NOT_UTF8, Block, split_lines, too_large, utf8_column


def read_lines(path: Path, origin: str, skip_header: bool = False) -> tuple[Block, bytes | None]:
    """Decompress a gzip export (ISA-L) and split it into its non-blank lines."""
    raw = path.read_bytes()
    try:
        inflater = isal_zlib.decompressobj(31)  # one gzip member, as the system writes them
        data = inflater.decompress(raw)
        if not inflater.eof or inflater.unused_data:  # several members (or a cut file)
            data = igzip.decompress(raw)
    except (OSError, EOFError, ValueError, isal_zlib.error) as error:
        raise SourceError(f"documents: {origin} is not a complete gzip file: {error}") from error
    if data and not data.endswith(b"\n"):
        data += b"\n"  # a last line without its line end
    body, header, first = memoryview(data), None, 1
    if skip_header and data:
        cut = data.index(b"\n")
        header, body, first = data[:cut].removesuffix(b"\r"), body[cut + 1 :], 2
    lines, numbers, count = split_lines(body, first)
    return Block(origin, lines, numbers, len(data), first + count), header


def batch_days(root: Path) -> list[tuple[date, Path]]:
    """The daily batch directories under ``root``, in date order."""
    if not root.exists():
        raise SourceError(f"documents: the export directory {root} does not exist")
    days = []
    for path in root.iterdir():
        if path.is_dir() and path.name.startswith(BATCH_PREFIX):
            try:
                days.append((date.fromisoformat(path.name.removeprefix(BATCH_PREFIX)), path))
            except ValueError:
                continue
    return sorted(days)


@dataclass(slots=True)
class Day:
    day: date
    directory: Path
    sources: tuple[str, ...]  # the sources whose watermark is before this day


@dataclass(slots=True)
class PreparedDay:
    day: date
    parts: dict[str, Prepared]


def prepare_day(
    day: Day,
    agencies: AgencyDirectory,
    pseudonyms: ledger.Pseudonyms,
    export_root: Path,
    land: Callable[[str, pa.Table], object] | None = None,
    limits: dict[str, int] | None = None,
) -> PreparedDay:
    """Read, land, parse and check one daily batch (no warehouse access: runs in a worker
    thread, so the main thread loads the previous day meanwhile). ``limits``: the largest
    record each source loads, in bytes (larger ones are rejected unparsed)."""
    parts: dict[str, Prepared] = {}
    read: dict[str, tuple[Block, bytes | None, pa.Array, dict[int, str]]] = {}
    for source in day.sources:
        path = batch_file(day.directory, source)
        if path is None:
            raise SourceError(f"documents: {day.directory.name} has no {expected_files(source)}")
        origin = f"{export_root.name}/{day.directory.name}/{path.name}"
        header, packaged = None, {}
        if is_package_file(path):  # a file per message: each whole, however laid out
            lines, packaged = read_packages(path, origin)
        else:
            lines, header = read_lines(path, origin, skip_header=source == REGISTER_SOURCE)
        table = landing.lines_table(lines.lines, origin, lines.numbers)
        if land:  # as read, before anything is loaded
            land(source, table)
        texts, bad_utf8 = utf8_column(lines.lines)  # the landed payload, not a copy of it
        unreadable = {index: NOT_UTF8 for index in bad_utf8}
        unreadable |= too_large(lines.lines, (limits or {}).get(source))
        unreadable |= packaged
        read[source] = (lines, header, texts, unreadable)
    xml = [s for s in (MESSAGES_SOURCE, STATUS_SOURCE) if s in read]
    fast = pl.collect_all(
        [
            fast_query(
                pl.Series("line", read[s][2]),
                s,
                accepted_lines(read[s][0].lines, sorted(read[s][3]), s),
            )
            for s in xml
        ]
    )
    for source, frame in zip(xml, fast, strict=True):
        lines, _, _, unreadable = read[source]
        prepare = prepare_messages if source == MESSAGES_SOURCE else prepare_status
        parts[source] = prepare(lines, unreadable, frame, agencies, day.day, pseudonyms)
    if REGISTER_SOURCE in read:
        lines, header, texts, unreadable = read[REGISTER_SOURCE]
        parts[REGISTER_SOURCE] = prepare_register(
            lines, texts, unreadable, header, agencies, day.day
        )
    return PreparedDay(day.day, parts)
