"""Entry point of the simulator: writes a province's source-system exports to a directory."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from simulator.calendar import WorkingCalendar
from simulator.procedures import write_procedure_system
from simulator.units import load_province

DEFAULT_START = date(2025, 7, 1)
DEFAULT_END = date(2026, 6, 30)


@dataclass(frozen=True, slots=True)
class SimulationSummary:
    out: Path
    province_code: str
    province_name: str
    start: date
    end: date
    counts: dict[str, int] = field(default_factory=dict)


def simulate(
    out: Path,
    scale: float = 0.01,
    seed: int = 42,
    province_code: str = "37",
    start: date = DEFAULT_START,
    end: date = DEFAULT_END,
    on_day: Callable[[date], None] | None = None,
) -> SimulationSummary:
    if scale <= 0:
        raise ValueError("scale must be positive")
    if end < start:
        raise ValueError("end must not be before start")
    province = load_province(province_code)
    # Due dates of dossiers filed late in the window fall in the next year.
    calendar = WorkingCalendar(start.year, end.year + 1)
    out.mkdir(parents=True, exist_ok=True)
    counts = write_procedure_system(out, province, calendar, seed, scale, start, end, on_day)
    summary = SimulationSummary(out, province.code, province.name, start, end, counts)
    (out / "summary.json").write_text(
        json.dumps(
            {
                "province_code": province.code,
                "province_name": province.name,
                "communes": len(province.communes),
                "start": start.isoformat(),
                "end": end.isoformat(),
                "scale": scale,
                "seed": seed,
                "counts": counts,
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    return summary
