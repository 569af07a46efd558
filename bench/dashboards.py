"""Benchmark: chart-data latency of every chart of the six dashboards, cold and warm.

    .venv/bin/python bench/dashboards.py --home DIR [--warm-runs 5]

``--home`` is a GOVDATA_HOME whose warehouse was built (scale 1 for the figures in
bench/README.md: `govdata run --simulate` with GOVDATA_SIMULATOR_SCALE=1, or bench/ingest.py's
home after `govdata build`). A Superset of its own (free port, throw-away metadata database,
two workers) serves its serving copy; headless Chromium opens each dashboard once as the admin
to record every chart's chart-data request as the front end sends it (the month filter at its
default, the latest month). Each request is then replayed over HTTP:

- cold: the first replay of every chart right after a fresh serving copy was swapped in and
  the kernel's page cache dropped (when the machine allows it: the JSON says);
- warm: ``--warm-runs`` replays of each chart in a row.

Superset's results cache is off (DATA_CACHE_CONFIG NullCache: the serving copy changes after
every build), so "warm" is a warm page cache and warm Superset, not cached results. Prints one
JSON document and appends it to bench/results/dashboards.jsonl.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from core.settings import REPO_ROOT, Settings
from core.warehouse import publish_serving_copy
from govdata.services import free_port, superset

sys.path.insert(0, str(REPO_ROOT / "tests"))
from browser import DASHBOARDS, chromium, logged_in_page, open_dashboard


def record_requests(settings: Settings) -> list[dict[str, Any]]:
    """Every chart-data request body the dashboards' front end sends, with its dashboard."""
    recorded: list[dict[str, Any]] = []
    with chromium() as browser:
        page = logged_in_page(browser, settings)
        for topic in DASHBOARDS:
            bodies: list[Any] = []

            def keep(request: Any, into: list[Any] = bodies) -> None:
                if "/api/v1/chart/data" in request.url and request.method == "POST":
                    into.append(request.post_data_json)

            page.on("request", keep)
            open_dashboard(page, settings, topic, allow_empty=True)
            page.remove_listener("request", keep)
            recorded += [{"dashboard": topic, "body": body} for body in bodies]
    return recorded


def drop_page_cache() -> bool:
    try:
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
    except OSError:
        return False
    return True


def replay(client: httpx.Client, body: Any) -> float:
    started = time.perf_counter()
    answer = client.post("/api/v1/chart/data", json=body)
    elapsed = time.perf_counter() - started
    if answer.status_code != 200 or any(q.get("error") for q in answer.json()["result"]):
        raise SystemExit(f"chart-data failed ({answer.status_code}): {answer.text[:300]}")
    return elapsed * 1000


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ordered[-1], 1),
        "n": len(ordered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--warm-runs", type=int, default=5)
    args = parser.parse_args()
    base = Settings(home=args.home)
    metadata_url = base.superset_metadata_url.rsplit("/", 1)[0] + (
        f"/govdata_superset_bench_{uuid.uuid4().hex[:8]}"
    )
    settings = base.model_copy(
        update={
            "superset_port": free_port(),
            "superset_workers": 2,
            "superset_metadata_url": metadata_url,
            "deployment": "production",
            "superset_admin_password": f"bench-{uuid.uuid4().hex}",
        }
    )
    try:
        superset.deploy(settings)
        requests = record_requests(settings)
        client = httpx.Client(base_url=superset.base_url(settings), timeout=120)
        token = client.post(
            "/api/v1/security/login",
            json={
                "username": settings.superset_admin_user,
                "password": settings.superset_admin_password,
                "provider": "db",
            },
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        publish_serving_copy(settings)
        dropped = drop_page_cache()
        cold = [replay(client, r["body"]) for r in requests]
        warm: list[float] = []
        per_chart = []
        for r, first in zip(requests, cold, strict=True):
            runs = [replay(client, r["body"]) for _ in range(args.warm_runs)]
            warm += runs
            per_chart.append(
                {
                    "dashboard": r["dashboard"],
                    "datasource": r["body"]["datasource"],
                    "cold_ms": round(first, 1),
                    "warm_median_ms": round(statistics.median(runs), 1),
                }
            )
        result = {
            "benchmark": "dashboards",
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "home": str(args.home),
            "target": settings.target,
            "chart_queries": len(requests),
            "page_cache_dropped": dropped,
            "cold": percentiles(cold),
            "warm": percentiles(warm),
            "slowest_warm": sorted(per_chart, key=lambda c: -c["warm_median_ms"])[:5],
        }
    finally:
        superset.stop(settings)
        superset.drop_database(metadata_url)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    out = REPO_ROOT / "bench" / "results" / "dashboards.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a", encoding="utf-8") as log:
        log.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
