"""Time and peak memory of the simulated reporting system at a scale.

    .venv/bin/python bench/simulate_reports.py --scale 1
    /usr/bin/time -v .venv/bin/python bench/simulate_reports.py --scale 1   # whole process

Prints rows written, wall time, peak resident memory (this process, imports included) and
the size of the export. Budget at scale 1: 20 s and 300 MiB.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from simulator.agencies import build_agencies
from simulator.calendar import WorkingCalendar
from simulator.reports import write_reporting_system
from simulator.units import load_region


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 7, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--faults", type=float, default=0.0, help="fault rate")
    parser.add_argument("--out", type=Path, help="keep the export here (default: a temp dir)")
    args = parser.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-reports-"))
    out.mkdir(parents=True, exist_ok=True)
    region = load_region("37")
    agencies = build_agencies(region)
    calendar = WorkingCalendar(args.start.year - 1, args.end.year + 1)
    started = time.perf_counter()
    counts = write_reporting_system(out, region, agencies, calendar, args.seed, args.scale,
                                    args.start, args.end, args.faults)  # fmt: skip
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    size = sum(p.stat().st_size for p in (out / "reports").rglob("*") if p.is_file())
    print(f"scale {args.scale:g}, {args.start} to {args.end}, fault rate {args.faults:g}")
    print(f"rows            {counts.total('reports.submissions'):,}")
    print(f"time            {seconds:.2f} s")
    print(f"peak memory     {peak:.0f} MiB")
    print(f"export size     {size / 2**20:.1f} MiB in {out}")
    if args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
