"""The export reader: a feed's export files (JSON lines, gzipped or not, or a JSON array) in
blocks of whole lines, from where the last run stopped (see
:class:`ingestion.lines.FileProgress`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa

from core.errors import SourceError
from ingestion.ledger import DayWindow
from ingestion.lines import (
    Block,
    FileProgress,
    head_fingerprint,
    read_blocks,
)

DATED = re.compile(r"(?P<year>\d{4})-?(?P<month>\d{2})-?(?P<day>\d{2})")


def export_day(path: Path) -> date | None:
    """The day a dated export is of (``dossiers_2025-07-01.jsonl``, ``events-20250701.jsonl``),
    or None for an export of no particular day (the whole history)."""
    match = DATED.search(path.name)
    if match is None:
        return None
    try:
        return date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        return None


def export_files(directory: Path, stem: str, window: DayWindow | None = None) -> list[Path]:
    """A feed's export files, in name order: ``<stem>*.jsonl[.gz]``, ``.ndjson``, ``.json``.

    With a ``window``, dated exports outside it are left for the run of their day; exports of
    no particular day are always read (from where the last run left them).
    """
    suffixes = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json")
    files = sorted(p for p in directory.glob(f"{stem}*") if p.name.endswith(suffixes))
    if window is None:
        return files
    return [p for p in files if (day := export_day(p)) is None or day in window]


def _json_array_block(path: Path, origin: str) -> Block:
    """A ``.json`` export (one array of records) as one block of lines."""
    try:
        records = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as error:
        raise SourceError(f"{origin} is not valid JSON: {error}") from error
    if not isinstance(records, list):
        raise SourceError(f"{origin} is not a JSON array of records")
    lines = pa.array([orjson.dumps(r) for r in records], pa.large_binary())
    return Block(origin, lines, np.arange(1, len(records) + 1), path.stat().st_size,
                 len(records) + 1)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExportBlock:
    part: int  # numbered within the run, for the landing zone
    name: str
    head: str  # the file's fingerprint
    block: Block


def export_blocks(files: list[Path], progress: FileProgress) -> Iterator[ExportBlock]:
    """The blocks of lines not loaded yet, file after file, from where each was left."""
    part = 0
    for path in files:
        origin = f"procedures/{path.name}"
        head, size = head_fingerprint(path), path.stat().st_size
        offset, line = progress.resume_point(path.name, head, size)
        if path.suffix == ".json":
            blocks = iter([_json_array_block(path, origin)] if offset < size else [])
        else:
            blocks = read_blocks(path, origin, offset, line)
        for block in blocks:
            yield ExportBlock(part, path.name, head, block)
            part += 1
