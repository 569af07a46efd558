"""Bad data, injected on purpose, and the manifest that lists every injected fault.

Real exports contain impossible dates, unknown codes, duplicates, missing fields, broken XML,
wrong encodings, out-of-order events and absurd values. Each source system draws faults with
its own random stream (so systems can be generated in parallel and stay deterministic) and
records each one — source, record key, kind — so tests can prove every fault is caught and no
good record is lost.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

MALFORMED_DATE = "malformed_date"
IMPOSSIBLE_DATE = "impossible_date"
UNKNOWN_PROCEDURE = "unknown_procedure"
UNKNOWN_UNIT = "unknown_unit"
UNKNOWN_INDICATOR = "unknown_indicator"
DUPLICATE = "duplicate"
MISSING_FIELD = "missing_field"
BROKEN_XML = "broken_xml"
TRUNCATED_XML = "truncated_xml"
WRONG_ENCODING = "wrong_encoding"
OUT_OF_ORDER_EVENT = "out_of_order_event"
ABSURD_VALUE = "absurd_value"

MANIFEST_DIR = "faults"


class FaultInjector:
    """Decides which records to spoil, at ``rate``, and writes ``faults/<source>.jsonl``."""

    def __init__(self, out: Path, source: str, rate: float, seed: int) -> None:
        if not 0 <= rate <= 1:
            raise ValueError("the fault rate must be between 0 and 1")
        self.source = source
        self.rate = rate
        self.rng = random.Random(f"faults-{source}-{seed}")
        self.count = 0
        self._handle = None
        if rate > 0:
            directory = out / MANIFEST_DIR
            directory.mkdir(parents=True, exist_ok=True)
            self._handle = (directory / f"{source}.jsonl").open("w", encoding="utf-8")

    def draw(self, kinds: Sequence[str]) -> str | None:
        """A fault kind for the next record, or None to leave it as it is."""
        if self.rate == 0 or self.rng.random() >= self.rate:
            return None
        return self.rng.choice(kinds)

    def record(
        self, record_key: str | None, kind: str, detail: str = "", file: str | None = None
    ) -> None:
        assert self._handle is not None, "record() called with a zero fault rate"
        entry = {"source": self.source, "record_key": record_key, "kind": kind,
                 "detail": detail, "file": file}  # fmt: skip
        self._handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> FaultInjector:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


def merge_manifests(out: Path) -> int:
    """Concatenate the per-source manifests into ``faults.jsonl``; returns the fault count."""
    parts = sorted((out / MANIFEST_DIR).glob("*.jsonl")) if (out / MANIFEST_DIR).exists() else []
    count = 0
    with (out / "faults.jsonl").open("w", encoding="utf-8") as merged:
        for part in parts:
            for line in part.read_text(encoding="utf-8").splitlines():
                merged.write(line + "\n")
                count += 1
    return count
