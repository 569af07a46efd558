"""Benchmark: generate one merged province-year (scale 1) of all three source systems.

Target on the 2-core reference machine: at most 2 minutes and 1 GiB of memory. Run with
``.venv/bin/python bench/simulate.py [--scale 1] [--out DIR]``; prints the time, the peak
memory of the main process and of the worker process (their sum bounds the combined peak),
and the counts, and appends them to bench/results/simulate.jsonl.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

CHILD = """
import json, resource, sys
from datetime import date
from pathlib import Path
from simulator.generate import simulate
summary = simulate(Path(sys.argv[1]), scale=float(sys.argv[2]), seed=1,
                   start=date(2025, 7, 1), end=date(2026, 6, 30))
print(json.dumps({
    "counts": summary.counts,
    "main_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "worker_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=None, help="kept when given")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="govdata-bench-sim-"))
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), str(args.scale)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.monotonic() - started
    report = json.loads(done.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    result = {
        "benchmark": "simulate",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "seconds": round(seconds, 1),
        "main_peak_mib": round(report["main_peak_mib"]),
        "worker_peak_mib": round(report["worker_peak_mib"]),
        "output_gib": round(size / 2**30, 2),
        "counts": report["counts"],
        "targets": {"seconds": 120, "peak_mib": 1024},
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    with (results / "simulate.jsonl").open("a") as handle:
        handle.write(json.dumps(result, ensure_ascii=False) + "\n")
    if args.out is None:
        shutil.rmtree(out)
    peak = result["main_peak_mib"] + result["worker_peak_mib"]
    if seconds > 120 or peak > 1024:
        sys.exit(f"over target: {seconds:.0f} s, {peak} MiB")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    main()
