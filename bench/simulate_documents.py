"""Time and peak memory of the simulated document system at a given scale.

    .venv/bin/python bench/simulate_documents.py --scale 1
    /usr/bin/time -v .venv/bin/python bench/simulate_documents.py --scale 0.1

Scale 1 is one merged province-year: ~2 million documents and ~9 million status messages.
Target on the 2-core reference machine: <= 60 s and <= 500 MiB peak RSS at scale 1, the peak
flat as the scale grows (the generation streams day by day).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simulator import documents
from simulator.agencies import build_agencies
from simulator.calendar import WorkingCalendar
from simulator.units import load_region


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--province", default="37")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 7, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--out", type=Path, help="keep the output here (default: a temp dir)")
    args = parser.parse_args()

    region = load_region(args.province)
    agencies = build_agencies(region)
    calendar = WorkingCalendar(args.start.year, args.end.year + 1)
    out = args.out or Path(tempfile.mkdtemp(prefix="documents-bench-"))
    if args.out and out.exists():
        shutil.rmtree(out)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        counts = documents.write_document_system(
            out, region, agencies, calendar, args.seed, args.scale, args.start, args.end,
            fault_rate=args.fault_rate,
        )  # fmt: skip
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    totals = counts.totals()
    print(f"scale {args.scale} {args.start}..{args.end} province {region.code} ({region.name})")
    print(f"compressor {documents._zlib.__name__}")
    for source, n in totals.items():
        print(f"  {source:20} {n:>12,}")
    print(f"output {size / 2**20:,.0f} MiB compressed")
    print(f"time {elapsed:.1f} s wall, {cpu:.1f} s CPU (both threads)")
    print(f"peak RSS {peak:.0f} MiB (after imports and setup: {rss_before:.0f} MiB)")


if __name__ == "__main__":
    main()
