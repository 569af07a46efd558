"""The agency directory (``reference/agencies.csv``): which electronic identifier codes
(MaDinhDanh) exist, and when each names its agency.

The 2025 merger reused codes: an old code is valid until 30 June 2025, the new agency that
reuses it from 1 July, so a code is checked against the record's date.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from core.errors import SourceError
from core.settings import Settings

AGENCIES_FILE = Path("reference") / "agencies.csv"


@dataclass(frozen=True, slots=True)
class AgencyDirectory:
    """Electronic identifier codes (MaDinhDanh) and the period each names its agency."""

    frame: pl.DataFrame  # code, valid_from, valid_to (dates, null = open-ended)

    @classmethod
    def read(cls, path: Path) -> AgencyDirectory:
        if not path.exists():
            raise SourceError(f"documents: the agency directory {path} does not exist")
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        if not rows or "MaDinhDanh" not in rows[0]:
            raise SourceError(f"documents: {path} has no MaDinhDanh column")

        def day(text: str | None) -> date | None:
            return date.fromisoformat(text) if text else None

        return cls(
            pl.DataFrame(
                {
                    "code": [r["MaDinhDanh"] for r in rows],
                    "valid_from": [day(r.get("HieuLucTu")) for r in rows],
                    "valid_to": [day(r.get("HieuLucDen")) for r in rows],
                },
                schema={"code": pl.String, "valid_from": pl.Date, "valid_to": pl.Date},
            ).filter(pl.col("code") != "")
        )

    def problems(self, codes: pl.DataFrame, what: str) -> pl.DataFrame:
        """Per ``_i`` of ``codes`` (columns _i, _k, code, day), the first code (in ``_k``
        order) that is unknown or not in force on its day, as a reason (``_why``); rows with
        no problem are left out. Checked once per distinct (code, day)."""
        pairs = codes.select("code", "day").unique().filter(pl.col("code").is_not_null())
        checked = (
            pairs.join(self.frame, on="code", how="left")
            .with_columns(
                known=pl.col("code").is_in(self.frame["code"].implode()),
                in_force=(pl.col("valid_from").is_null() | (pl.col("valid_from") <= pl.col("day")))
                & (pl.col("valid_to").is_null() | (pl.col("day") <= pl.col("valid_to"))),
            )
            .group_by("code", "day")
            .agg(
                pl.col("known").any(),
                (pl.col("known") & pl.col("in_force")).any().alias("in_force"),
            )
        )
        bad = checked.filter(
            ~pl.col("known") | (~pl.col("in_force") & pl.col("day").is_not_null())
        ).select(
            "code",
            "day",
            pl.when(~pl.col("known"))
            .then(pl.format("{} {}: not in the agency directory", pl.lit(what), pl.col("code")))
            .otherwise(
                pl.format(
                    "{} {}: agency code not in force on {}",
                    pl.lit(what),
                    pl.col("code"),
                    pl.col("day").dt.strftime("%Y-%m-%d"),
                )
            )
            .alias("_why"),
        )
        return (
            codes.join(bad, on=["code", "day"], nulls_equal=True)
            .sort("_i", "_k")
            .group_by("_i", maintain_order=True)
            .agg(pl.col("_why").first())
            .select("_i", "_why")
        )


def agencies_path(settings: Settings) -> Path:
    """The agency directory dropped beside the document exports (``reference/agencies.csv``)."""
    return settings.documents_export_dir.parent / AGENCIES_FILE
