"""Entry point of the simulator: writes a province's three source systems to a directory.

Layout of ``out``::

    summary.json            what was generated: parameters and counts per source and month
    faults.jsonl            every injected fault (source, record key, kind), when --faults > 0
    reference/agencies.csv  agencies with electronic identifier codes, old and new
    procedures/             catalogue.json, dossiers.jsonl (sync payload versions), events.jsonl
    documents/date=YYYY-MM-DD/   the document system's daily batches (edXML: a file per
                                 message in a daily zip, by default)
    reports/                reporting regimes and submissions (CSV and Excel)

Each system draws from its own random streams, so the document and reporting systems are
generated in a second process while this one writes the procedure system: two cores, and the
same bytes for the same seed whatever the order.
"""

from __future__ import annotations

import csv
import functools
import json
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

from simulator.agencies import Agency, build_agencies
from simulator.calendar import WorkingCalendar
from simulator.counts import MonthlyCounts
from simulator.faults import merge_manifests
from simulator.procedures import write_procedure_system
from simulator.units import Region, load_region

DEFAULT_START = date(2024, 7, 1)
DEFAULT_END = date(2026, 6, 30)


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    out: Path
    province_code: str
    province_name: str
    start: date
    end: date
    counts: dict[str, int] = field(default_factory=dict)
    faults: int = 0
    seconds: float = 0.0


def write_agencies(out: Path, agencies: list[Agency]) -> None:
    directory = out / "reference"
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "agencies.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("MaDinhDanh", "TenCoQuan", "LoaiCoQuan", "MaDonViHanhChinh",
                         "MaTinh", "HieuLucTu", "HieuLucDen", "SoTaiKhoan"))  # fmt: skip
        for a in agencies:
            writer.writerow((a.code, a.name, a.kind, a.unit_code, a.province_code,
                             a.valid_from or "", a.valid_to or "", a.accounts))  # fmt: skip


class SystemWriter(Protocol):
    """The signature every source system's generator shares."""

    def __call__(self, out: Path, region: Region, agencies: list[Agency],
                 calendar: WorkingCalendar, seed: int, scale: float, start: date, end: date,
                 fault_rate: float = 0.0,
                 on_day: Callable[[date], None] | None = None) -> MonthlyCounts: ...  # fmt: skip


def write_system(
    writer: SystemWriter,
    out: Path,
    seed: int,
    scale: float,
    start: date,
    end: date,
    fault_rate: float = 0.0,
    province_code: str = "37",
    on_day: Callable[[date], None] | None = None,
) -> MonthlyCounts:
    """One system's exports, with the region, agencies and working calendar it needs."""
    region = load_region(province_code)
    # Due dates of what is filed late in the window fall in the next year.
    calendar = WorkingCalendar(start.year - 1, end.year + 1)
    return writer(out, region, build_agencies(region), calendar, seed, scale, start, end,
                  fault_rate, on_day)  # fmt: skip


def _other_systems(out: Path, province_code: str, seed: int, scale: float, start: date,
                   end: date, fault_rate: float,
                   documents_container: str) -> MonthlyCounts:  # fmt: skip
    """The document and reporting systems, run in a worker process."""
    from simulator.documents import write_document_system
    from simulator.reports import write_reporting_system

    counts = MonthlyCounts()
    documents = functools.partial(write_document_system, container=documents_container)
    for writer in (documents, write_reporting_system):
        counts.update(write_system(writer, out, seed, scale, start, end, fault_rate,
                                   province_code))  # fmt: skip
    return counts


def simulate(
    out: Path,
    scale: float = 0.05,
    seed: int = 42,
    province_code: str = "37",
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    fault_rate: float = 0.0,
    on_day: Callable[[date], None] | None = None,
    documents_container: str = "zip",
) -> SimulationSummary:
    """``documents_container``: how the document system delivers its edXML messages (a file
    per message in a daily ``zip`` or ``folder``, or a message per line, ``lines``)."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    if end < start:
        raise ValueError("end must not be before start")
    if not 0 <= fault_rate <= 1:
        raise ValueError("the fault rate must be between 0 and 1")
    started = time.monotonic()
    region = load_region(province_code)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("faults", "faults.jsonl"):
        path = out / stale
        if path.is_dir():
            for part in path.glob("*.jsonl"):
                part.unlink()
        elif path.exists():
            path.unlink()
    agencies = build_agencies(region)
    write_agencies(out, agencies)

    with ProcessPoolExecutor(max_workers=1) as pool:
        others = pool.submit(_other_systems, out, region.code, seed, scale, start, end,
                             fault_rate, documents_container)  # fmt: skip
        counts = write_system(write_procedure_system, out, seed, scale, start, end,
                              fault_rate, region.code, on_day)  # fmt: skip
        counts.update(others.result())
    faults = merge_manifests(out) if fault_rate > 0 else 0
    summary = SimulationSummary(
        out, region.code, region.name, start, end, counts.totals(), faults,
        time.monotonic() - started,
    )  # fmt: skip
    (out / "summary.json").write_text(
        json.dumps(
            {
                "province_code": region.code,
                "province_name": region.name,
                "communes": len(region.communes),
                "old_provinces": [p.code for p in region.old_provinces],
                "old_communes": len(region.old_communes),
                "agencies": len(agencies),
                "start": start.isoformat(),
                "end": end.isoformat(),
                "scale": scale,
                "seed": seed,
                "fault_rate": fault_rate,
                "faults": faults,
                "counts": counts.as_dict(),
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    return summary
