"""The export reader: a feed's export files (JSON lines, gzipped or not, or a JSON array) in
blocks of whole lines, from where the last run stopped (see
:class:`ingestion.lines.FileProgress`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa

from core.errors import SourceError
from ingestion.lines import (
    Block,
    FileProgress,
    head_fingerprint,
    read_blocks,
)


def export_files(directory: Path, stem: str) -> list[Path]:
    """A feed's export files, in name order: ``<stem>*.jsonl[.gz]``, ``.ndjson``, ``.json``."""
    suffixes = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json")
    return sorted(p for p in directory.glob(f"{stem}*") if p.name.endswith(suffixes))


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
