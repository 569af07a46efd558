"""Benchmark: the national warehouse — every province's year simulated, ingested and built.

    .venv/bin/python bench/national.py [--provinces all] [--scales 0.005,0.01,0.02]
        [--targets duckdb,spark] [--start 2025-01-01 --end 2025-12-31] [--keep DIR]

For each scale (per province: 1 = one province-year, so ``all`` at scale 1 is 34 times
today's province-year), a fresh national home is simulated (untimed against the target,
reported), then ingested and built on DuckDB through the command line (``govdata ingest``,
``govdata build``), each step a process of its own whose peak memory (the largest resident
set of its process tree, sampled every 0.2 s) and wall time are measured. ``--targets
spark`` then builds the same raw layer with dbt-spark in local mode (``GOVDATA_TARGET=spark
govdata build``). The documents are simulated in their compressed container (zip) as a real
export is. Prints one JSON document per scale, appends them to bench/results/national.jsonl
and draws bench/results/national.svg (time against scale, both engines, log-log).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
GOVDATA = ROOT / ".venv" / "bin" / "govdata"


def tree_rss(process: psutil.Process) -> int:
    """Resident memory of a process and its descendants (Spark's JVM is a child)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def measured(step: str, args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run one command line step; its wall time and peak memory (GiB)."""
    started = time.monotonic()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    watched = psutil.Process(process.pid)
    peak = 0
    output = bytearray()
    os.set_blocking(process.stdout.fileno(), False)  # type: ignore[union-attr]
    while process.poll() is None:
        try:
            peak = max(peak, tree_rss(watched))
        except psutil.NoSuchProcess:
            break
        chunk = process.stdout.read()  # type: ignore[union-attr]
        if chunk:
            output += chunk
        time.sleep(0.2)
    output += process.stdout.read() or b""  # type: ignore[union-attr]
    seconds = time.monotonic() - started
    if process.returncode != 0:
        sys.stderr.write(output.decode(errors="replace")[-4000:])
        raise SystemExit(f"{step} failed ({process.returncode})")
    return {"seconds": round(seconds, 1), "peak_gib": round(peak / 2**30, 2)}


def rows(home: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as warehouse:
        counted = {
            "dossier_versions": "select count(*) from raw.procedures__dossiers",
            "documents": "select count(*) from raw.documents__messages",
            "provinces_ranked": "select max(provinces_ranked) from marts.kpi_766_province_ranking",
            "fct_dossier": "select count(*) from marts.fct_dossier",
        }
        return {
            name: int(warehouse.execute(sql).fetchone()[0] or 0) for name, sql in counted.items()
        }


def disk_gib(path: Path) -> float:
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**30, 2)


def one_scale(scale: float, options: argparse.Namespace, base: Path) -> dict[str, object]:
    home = base / f"national-{scale}"
    shutil.rmtree(home, ignore_errors=True)
    env = {
        **os.environ,
        "GOVDATA_HOME": str(home),
        "GOVDATA_PROVINCE_CODE": options.provinces,
        "GOVDATA_SIMULATOR_SCALE": str(scale),
        "GOVDATA_DOCUMENTS_CONTAINER": "zip",
        "GOVDATA_TARGET": "duckdb",
    }
    result: dict[str, object] = {
        "benchmark": "national",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "provinces": options.provinces,
        "scale_per_province": scale,
        "period": [options.start, options.end],
        "cpus": os.cpu_count(),
    }
    result["simulate"] = measured(
        "simulate",
        [str(GOVDATA), "simulate", "--start", options.start, "--end", options.end],
        env,
    )
    result["sources_gib"] = disk_gib(home / "sources")
    result["ingest"] = measured("ingest", [str(GOVDATA), "ingest"], env)
    result["duckdb_build"] = measured("build", [str(GOVDATA), "build"], env)
    ingest_s = result["ingest"]["seconds"]  # type: ignore[index]
    build_s = result["duckdb_build"]["seconds"]  # type: ignore[index]
    result["duckdb_ingest_and_build_s"] = round(ingest_s + build_s, 1)
    result["warehouse_gib"] = round((home / "warehouse.duckdb").stat().st_size / 2**30, 2)
    result["rows"] = rows(home)
    if "spark" in options.targets:
        spark = measured("spark build", [str(GOVDATA), "build"], {**env, "GOVDATA_TARGET": "spark"})
        result["spark_build"] = spark
        result["spark_to_duckdb_build"] = round(spark["seconds"] / max(build_s, 0.1), 2)
    if not options.keep:
        shutil.rmtree(home, ignore_errors=True)
    return result


def plot(results: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axes = pyplot.subplots(figsize=(7, 4.5))
    scales = [r["scale_per_province"] for r in results]
    series = {
        "DuckDB ingest": [r["ingest"]["seconds"] for r in results],  # type: ignore[index]
        "DuckDB build": [r["duckdb_build"]["seconds"] for r in results],  # type: ignore[index]
    }
    for label, seconds in series.items():
        axes.plot(scales, seconds, marker="o", label=label)
    with_spark = [r for r in results if "spark_build" in r]
    if with_spark:
        axes.plot(
            [r["scale_per_province"] for r in with_spark],
            [r["spark_build"]["seconds"] for r in with_spark],  # type: ignore[index]
            marker="s",
            label="Spark build (local[2])",
        )
    axes.set_xscale("log")
    axes.set_yscale("log")
    provinces = results[0]["provinces"]
    axes.set_xlabel(f"scale per province ({provinces} provinces; 1 = a province-year)")
    axes.set_ylabel("seconds")
    axes.set_title("National warehouse: cost against scale (2 cores)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--provinces", default="all")
    parser.add_argument("--scales", default="0.005,0.01,0.02")
    parser.add_argument("--targets", default="duckdb,spark")
    parser.add_argument("--start", default="2025-01-01")
    parser.add_argument("--end", default="2025-12-31")
    parser.add_argument("--keep", action="store_true", help="keep each scale's home")
    parser.add_argument("--base", type=Path, default=None, help="where the homes go [a temp dir]")
    options = parser.parse_args()
    base = options.base or Path(tempfile.mkdtemp(prefix="govdata-national-"))
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    for scale in (float(s) for s in options.scales.split(",")):
        result = one_scale(scale, options, base)
        print(json.dumps(result, ensure_ascii=False), flush=True)
        with (RESULTS / "national.jsonl").open("a", encoding="utf-8") as log:
            log.write(json.dumps(result, ensure_ascii=False) + "\n")
        results.append(result)
    # Every run of this set of provinces and period so far, one point per scale (the latest).
    logged = [json.loads(line) for line in (RESULTS / "national.jsonl").read_text().splitlines()]
    same = {
        r["scale_per_province"]: r
        for r in logged
        if r["provinces"] == options.provinces and r["period"] == [options.start, options.end]
    }
    plot([same[scale] for scale in sorted(same)], RESULTS / "national.svg")


if __name__ == "__main__":
    main()
