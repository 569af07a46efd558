"""Ingestion speed of the document system's real container (a daily zip of one pretty-printed
``.edxml`` file per message) beside the line-packed gzip, for the same seed.

    .venv/bin/python bench/documents_container.py [--scale 1] [--days 30] [--repeats 3]

Writes both containers of the same window (same messages), then loads each into a fresh DuckDB
warehouse ``--repeats`` times, alternately (this VM is shared and its speed drifts within
minutes: only a ratio measured in the same run means anything), and checks both loaded the
same counts. Target (issue 18): the zip within 2x of the lines. Prints one JSON document and
appends it to bench/results/documents_container.jsonl.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import Settings
from core.warehouse import DuckDBWarehouse
from ingestion.documents import ingest_documents
from simulator.agencies import build_agencies
from simulator.documents import write_document_system
from simulator.generate import write_agencies, write_system
from simulator.units import load_region

CONTAINERS = ("lines", "zip")


def generate(out: Path, container: str, scale: float, start: date, end: date) -> float:
    write_agencies(out, build_agencies(load_region("37")))
    writer = functools.partial(write_document_system, container=container)
    started = time.perf_counter()
    write_system(writer, out, 1, scale, start, end)
    return round(time.perf_counter() - started, 1)


def ingest(
    sources: Path, home: Path
) -> tuple[float, float, dict[str, tuple[int, ...]], tuple[float, int]]:
    """(wall seconds, process CPU seconds, counts per source, (system seconds, page faults))
    of one load into a fresh home."""
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    settings = Settings(home=home, documents_dir=sources / "documents", pii_hash_key="bench")
    warehouse = DuckDBWarehouse(home / "warehouse.duckdb")
    try:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        started, cpu = time.perf_counter(), time.process_time()
        results = ingest_documents(settings, warehouse)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        after = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        warehouse.close()
    counts = {r.source: (r.counts.read, r.counts.loaded, r.counts.rejected, r.counts.duplicate)
              for r in results}  # fmt: skip
    kernel = (round(after.ru_stime - usage.ru_stime, 1), after.ru_minflt - usage.ru_minflt)
    return round(wall, 1), round(cpu, 1), counts, kernel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 7, 1))
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, help="keep the sources here (default: a temp dir)")
    args = parser.parse_args()
    end = args.start + timedelta(days=args.days - 1)
    work = args.work or Path(tempfile.mkdtemp(prefix="documents-container-bench-"))
    try:
        generated, sizes = {}, {}
        for container in CONTAINERS:
            sources = work / container
            shutil.rmtree(sources, ignore_errors=True)
            generated[container] = generate(sources, container, args.scale, args.start, end)
            files = [p for p in (sources / "documents").rglob("*") if p.is_file()]
            sizes[container] = round(sum(p.stat().st_size for p in files) / 2**20, 1)
        walls: dict[str, list[float]] = {c: [] for c in CONTAINERS}
        cpus: dict[str, list[float]] = {c: [] for c in CONTAINERS}
        kernel: dict[str, list[tuple[float, int]]] = {c: [] for c in CONTAINERS}
        counts: dict[str, dict[str, tuple[int, ...]]] = {}
        ratios = []
        for repeat in range(args.repeats):
            order = CONTAINERS if repeat % 2 == 0 else tuple(reversed(CONTAINERS))
            for container in order:
                wall, cpu, counts[container], faults = ingest(work / container, work / "home")
                walls[container].append(wall)
                cpus[container].append(cpu)
                kernel[container].append(faults)
            ratios.append(round(walls["zip"][-1] / walls["lines"][-1], 2))
        if counts["zip"] != counts["lines"]:
            raise SystemExit(f"the containers loaded different counts: {counts}")
        report = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "scale": args.scale,
            "window": [args.start.isoformat(), end.isoformat()],
            "counts (read, loaded, rejected, duplicate)": counts["zip"],
            "generated_seconds": generated,
            "size_mib": sizes,
            "ingest_seconds": walls,
            "ingest_cpu_seconds": cpus,
            "ingest_system_seconds_and_page_faults": kernel,
            "load_average_after": os.getloadavg(),
            "zip_over_lines_per_pair": ratios,
            "zip_over_lines_median": round(
                statistics.median(walls["zip"]) / statistics.median(walls["lines"]), 2
            ),
        }
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    with (results / "documents_container.jsonl").open("a") as handle:
        handle.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
