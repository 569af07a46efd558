"""A small KPI warehouse for the dashboard tests: the `marts.kpi_unit_month` contract only.

It does not depend on the pipeline: a few months of the online-dossier rate (766.3.3) and the
on-time rate (766.2.1) for the province of Ninh Binh and a dozen of its communes, including a
commune with no dossier in a month (rate null), written with the same DuckDB minor as the
serving copy.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import psycopg

PROVINCE = ("37", "Tỉnh Ninh Bình")
COMMUNES = [
    ("14353", "Phường Hoa Lư"),
    ("14356", "Phường Tây Hoa Lư"),
    ("14359", "Phường Nam Hoa Lư"),
    ("13675", "Phường Nam Định"),
    ("13684", "Phường Thiên Trường"),
    ("13966", "Phường Phủ Lý"),
    ("14230", "Xã Gia Viễn"),
    ("14428", "Xã Kim Sơn"),
    ("14524", "Xã Yên Mô"),
    ("13837", "Xã Hải Hậu"),
    ("13795", "Xã Nghĩa Hưng"),
    ("14047", "Xã Bình Lục"),
]
MONTHS = [date(2025, m, 1) for m in range(7, 13)]
KPIS = {
    "766.3.3": "Online dossier rate",
    "766.2.1": "On-time rate",
}
EMPTY_COMMUNE = "14524"  # no dossier in the first month: denominator 0, rate null


Row = tuple[date, str, str, str, str, str, int, int, float | None]


def kpi_rows(months: list[date] = MONTHS) -> list[Row]:
    """Rows of marts.kpi_unit_month, deterministic; the province row sums its communes."""
    rows: list[Row] = []
    for m_index, month in enumerate(months):
        for kpi_index, (kpi_code, kpi_name) in enumerate(KPIS.items()):
            total_num = total_den = 0
            for c_index, (code, name) in enumerate(COMMUNES):
                if code == EMPTY_COMMUNE and m_index == 0:
                    num = den = 0
                else:
                    den = 80 + 17 * c_index + 9 * m_index
                    share = 0.25 + 0.05 * c_index + 0.03 * m_index + 0.1 * kpi_index
                    num = min(den, round(den * share))
                total_num += num
                total_den += den
                rate = num / den if den else None
                rows.append((month, code, name, "commune", kpi_code, kpi_name, num, den, rate))
            rows.append(
                (
                    month,
                    PROVINCE[0],
                    PROVINCE[1],
                    "province",
                    kpi_code,
                    kpi_name,
                    total_num,
                    total_den,
                    total_num / total_den,
                )
            )
    return rows


def latest_province_rate(months: list[date] = MONTHS, kpi_code: str = "766.3.3") -> float:
    """The figure the big number must show: the province's rate in the latest month."""
    rows = kpi_rows(months)
    latest = max(months)
    for row in rows:
        if row[0] == latest and row[3] == "province" and row[4] == kpi_code and row[8]:
            return row[8]
    raise LookupError(kpi_code)


def latest_commune_ranking(months: list[date] = MONTHS, kpi_code: str = "766.3.3") -> list[str]:
    """Names of the communes with dossiers in the latest month, highest rate first."""
    latest = max(months)
    rows = [
        r
        for r in kpi_rows(months)
        if r[0] == latest and r[3] == "commune" and r[4] == kpi_code and r[7] > 0
    ]
    return [r[2] for r in sorted(rows, key=lambda r: r[8] or 0.0, reverse=True)]


COLUMNS_DDL = """
    period_month DATE NOT NULL,
    unit_code VARCHAR NOT NULL,
    unit_name VARCHAR NOT NULL,
    unit_level VARCHAR NOT NULL,
    kpi_code VARCHAR NOT NULL,
    kpi_name VARCHAR NOT NULL,
    numerator DOUBLE PRECISION NOT NULL,
    denominator DOUBLE PRECISION NOT NULL,
    rate DOUBLE PRECISION,
    boundaries VARCHAR NOT NULL DEFAULT 'current',
    unit_key VARCHAR
"""
INSERTED = (
    "period_month, unit_code, unit_name, unit_level, kpi_code, kpi_name, numerator, "
    "denominator, rate"
)


def write_kpi_postgres(conninfo: str, months: list[date] = MONTHS) -> None:
    """The same mart in an existing PostgreSQL database (the GOVDATA_TARGET=postgres case)."""
    with psycopg.connect(conninfo, autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS marts CASCADE")
        con.execute("CREATE SCHEMA marts")
        con.execute(f"CREATE TABLE marts.kpi_unit_month ({COLUMNS_DDL})")
        with con.cursor() as cur:
            cur.executemany(
                f"INSERT INTO marts.kpi_unit_month ({INSERTED}) VALUES ({', '.join(['%s'] * 9)})",
                kpi_rows(months),
            )


def write_kpi_warehouse(path: Path, months: list[date] = MONTHS) -> Path:
    """Create the DuckDB file at `path` (replacing it) with schema `marts` and the KPI mart."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute(f"CREATE TABLE marts.kpi_unit_month ({COLUMNS_DDL})")
        con.executemany(
            f"INSERT INTO marts.kpi_unit_month ({INSERTED}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            kpi_rows(months),
        )
    return path
