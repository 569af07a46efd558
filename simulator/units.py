"""Administrative units of the simulated province, from the ``vietnamadminunits`` package.

The package ships the 34 post-merger provinces and their 3,321 communes with official codes
(Decision 19/2025/QĐ-TTg), which is exactly what a real province's systems record after
1 July 2025.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from vietnamadminunits.database import query


@dataclass(frozen=True, slots=True)
class Commune:
    code: str
    name: str
    unit_type: str  # Phường, Xã or Đặc khu
    province_code: str


@dataclass(frozen=True, slots=True)
class Province:
    code: str
    name: str
    communes: tuple[Commune, ...]


@cache
def load_province(province_code: str) -> Province:
    """The province and its communes as they are since the 2025 merger."""
    rows = query(
        "select distinct province, provinceCode, ward, wardType, wardCode from admin_units "
        f"where provinceCode = '{int(province_code):02d}' order by wardCode"
    )
    if not rows:
        raise ValueError(f"unknown province code {province_code!r}: expected one of the 34 codes")
    communes = tuple(
        Commune(
            code=r["wardCode"],
            name=r["ward"],
            unit_type=r["wardType"],
            province_code=r["provinceCode"],
        )
        for r in rows
    )
    return Province(code=rows[0]["provinceCode"], name=rows[0]["province"], communes=communes)
