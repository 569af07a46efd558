"""What a submission row is checked against: the catalogue's regimes and indicators, and the
agency directory (``reference/agencies.csv``, optional), whose codes are in force by period."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from core.errors import SourceError
from core.settings import Settings


@dataclass(frozen=True, slots=True)
class Reference:
    """What a submission row is checked against: the catalogue and the agency directory."""

    regimes: pl.DataFrame  # code, name, frequency, indicator_codes (list)
    indicators: pl.DataFrame  # code, name, unit, type, min_value, max_value
    agencies: pl.DataFrame | None  # code, valid_from, valid_to; None when there is no directory

    @property
    def codes(self) -> dict[str, list[str]]:
        codes = {
            "regimes": self.regimes["code"].to_list(),
            "indicators": self.indicators["code"].to_list(),
        }
        if self.agencies is not None:
            codes["agencies"] = self.agencies["code"].unique().to_list()
        return codes


def agencies_path(settings: Settings) -> Path | None:
    """The agency directory beside the exports: ``<sources>/reference/agencies.csv``."""
    candidates = (
        settings.reports_export_dir.parent / "reference" / "agencies.csv",
        settings.sources_dir / "reference" / "agencies.csv",
    )
    return next((path for path in candidates if path.is_file()), None)


def read_agencies(path: Path | None) -> pl.DataFrame | None:
    """Codes with their validity (an electronic identifier code can name two agencies in turn)."""
    if path is None:
        return None
    frame = pl.read_csv(path, infer_schema=False)
    missing = {"MaDinhDanh", "HieuLucTu", "HieuLucDen"} - set(frame.columns)
    if missing:
        raise SourceError(f"{path}: the agency directory lacks {', '.join(sorted(missing))}")
    return frame.select(
        code=pl.col("MaDinhDanh"),
        valid_from=pl.col("HieuLucTu").str.to_date("%Y-%m-%d", strict=False),
        valid_to=pl.col("HieuLucDen").str.to_date("%Y-%m-%d", strict=False),
    ).filter(pl.col("code").is_not_null())
