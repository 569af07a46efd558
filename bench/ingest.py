"""Benchmark: ingest one province-year (scale 1) of the three systems, and the same dossier
file loaded two other ways for comparison.

Targets on the 2-core reference machine (issue 4): the whole of scale 1 in at most 3 minutes;
dossiers, validation included, within 2x of DuckDB's native ``read_json`` with an explicit
schema, and at least 8x faster than pandas ``read_json`` + ``to_sql`` into PostgreSQL.

    .venv/bin/python bench/ingest.py [--sources DIR] [--scale 1] [--skip-naive]

Generates the sources unless ``--sources`` names a simulator output; prints one JSON document
and appends it to bench/results/ingest.jsonl. Our dossier load and the native one are timed
``--repeats`` times, alternately, and compared by their medians: this VM's speed drifts by a
quarter within minutes, so one pair can land on either side of a target.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import psycopg

from core.settings import Settings
from core.warehouse import session
from govdata.pipeline import ingest
from ingestion.procedures import ingest_dossier_exports, ingest_reference_exports
from simulator.generate import simulate

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
DOSSIER_COLUMNS = {
    "MaHoSo": "VARCHAR", "MaTTHC": "VARCHAR", "TenTTHC": "VARCHAR", "MaLinhVuc": "VARCHAR",
    "ChuHoSo": "VARCHAR", "SoDienThoaiChuHoSo": "VARCHAR", "EmailChuHoSo": "VARCHAR",
    "SoGiayToChuHoSo": "VARCHAR", "LoaiDoiTuong": "INTEGER", "NgayTiepNhan": "VARCHAR",
    "NgayHenTra": "VARCHAR", "NgayKetThucXuLy": "VARCHAR", "NgayTra": "VARCHAR",
    "TrangThaiHoSo": "INTEGER", "KenhThucHien": "INTEGER", "DonViXuLy": "VARCHAR",
    "DuocThanhToanTrucTuyen": "BOOLEAN", "HoSoCoThanhPhanSoHoa": "BOOLEAN",
    "TaiKhoanDuocXacThucVoiVNeID": "BOOLEAN", "CoPhanAnhKienNghi": "BOOLEAN",
    "TaiLieuNop": "STRUCT(TenTaiLieu VARCHAR, DuocSoHoa BOOLEAN, DuocTaiSuDung BOOLEAN)[]",
    "DanhSachLePhi": "STRUCT(MaPhiLePhi VARCHAR, TenPhiLePhi VARCHAR, SoTien BIGINT)[]",
    "DanhSachGiayToKetQua": "STRUCT(TenGiayTo VARCHAR, CoTepDienTu BOOLEAN)[]",
    "NgayCapNhat": "VARCHAR",
}  # fmt: skip


def timed(action):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    value = action()
    return value, round(time.monotonic() - started, 1)


def dossiers_alone(sources: Path, work: Path) -> float:
    """Our dossier load by itself (validation, pseudonyms, landing and all), into a fresh
    warehouse: in the full run it shares the cores with the documents, while the loads it is
    compared with run alone."""
    home = work / "alone"
    home.mkdir()
    (home / "sources").symlink_to(sources.resolve(), target_is_directory=True)
    settings = Settings(home=home, target="duckdb", procedures_transport="files")
    with session(settings) as warehouse:
        ingest_reference_exports(settings, warehouse)  # the code lists the contract checks
        _, seconds = timed(lambda: ingest_dossier_exports(settings, warehouse))
    shutil.rmtree(home)
    return seconds


def duckdb_native(dossiers: Path, work: Path) -> float:
    with duckdb.connect(str(work / "native.duckdb")) as connection:
        _, seconds = timed(lambda: connection.execute(
            "create table dossiers as select * from read_json(?, format='newline_delimited', "
            f"columns={DOSSIER_COLUMNS!r}, ignore_errors=true)", [str(dossiers)]))  # fmt: skip
    return seconds


def pandas_naive(dossiers: Path) -> float:
    import pandas as pd
    import sqlalchemy as sa

    name = f"govdata_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    try:
        engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")

        def load() -> None:
            # In chunks only so that 2 million nested records fit in memory; otherwise naive.
            chunks = pd.read_json(dossiers, lines=True, encoding_errors="replace",
                                  chunksize=200_000)  # fmt: skip
            for frame in chunks:
                for column in ("TaiLieuNop", "DanhSachLePhi", "DanhSachGiayToKetQua"):
                    frame[column] = frame[column].map(json.dumps)
                frame.to_sql("dossiers", engine, chunksize=10_000, index=False, if_exists="append")

        _, seconds = timed(load)
        engine.dispose()
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'drop database "{name}" with (force)')
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sources", type=Path)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="pairs of our and native loads")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="govdata-bench-ingest-"))
    sources = args.sources
    if sources is None:
        sources = work / "sources"
        simulate(sources, scale=args.scale, seed=1, start=date(2025, 7, 1), end=date(2026, 6, 30))
    home = work / "home"
    home.mkdir()
    (home / "sources").symlink_to(sources.resolve(), target_is_directory=True)
    settings = Settings(home=home, target="duckdb", procedures_transport="files")
    results, seconds = timed(lambda: ingest(settings))
    dossiers = sources / "procedures" / "dossiers.jsonl"
    # The dossier loads one after the other, each alone on the machine.
    ours_runs, native_runs = [], []
    for _ in range(args.repeats):
        os.sync()  # the previous step's files are written out before the next is timed
        ours_runs.append(dossiers_alone(sources, work))
        os.sync()
        native_runs.append(duckdb_native(dossiers, work))
        (work / "native.duckdb").unlink(missing_ok=True)
    ours, native = statistics.median(ours_runs), statistics.median(native_runs)
    pair_ratios = [round(o / n, 2) for o, n in zip(ours_runs, native_runs, strict=True)]
    naive = None if args.skip_naive else pandas_naive(dossiers)
    report = {
        "benchmark": "ingest",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": args.scale,
        "home": str(home),  # kept: bench/dbt_build.py --home builds on it
        "all_sources_seconds": seconds,
        "per_source": {
            r.source: {
                "read": r.counts.read,
                "loaded": r.counts.loaded,
                "rejected": r.counts.rejected,
                "duplicate": r.counts.duplicate,
                "seconds": round(r.seconds, 1),
            }
            for r in results
        },
        "dossiers_alone_seconds": ours,
        "dossiers_duckdb_native_seconds": native,
        "dossiers_alone_runs": ours_runs,
        "dossiers_duckdb_native_runs": native_runs,
        "dossiers_vs_native_runs": pair_ratios,
        "dossiers_pandas_to_sql_seconds": naive,
        "dossiers_vs_native": round(ours / native, 2),
        "naive_vs_ours": round(naive / ours, 2) if naive else None,
        "targets": {"all_sources_seconds": 180, "dossiers_vs_native": 2, "naive_vs_ours": 8},
    }
    print(json.dumps(report, indent=2, ensure_ascii=False))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    with (out / "ingest.jsonl").open("a") as handle:
        handle.write(json.dumps(report, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
