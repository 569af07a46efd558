"""The province's agencies, with electronic identifier codes, and their user accounts.

Codes follow the four-level structure of Decision 20/2020/QĐ-TTg, ``L1.L2.L3.L4``: L4 names
the province (``H`` and the province code in this simulator), L3 a province-level agency or a
district, L2 an agency under it or a commune. The merged province keeps the codes of the
province it was named after, so after 1 July 2025 the same code can name another agency:
exactly the reuse the warehouse has to handle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from simulator.units import LAST_DAY_BEFORE_MERGER, MERGER_DATE, AdminUnit, Region

DEPARTMENTS = (
    "Văn phòng Ủy ban nhân dân",
    "Sở Nội vụ",
    "Sở Tài chính",
    "Sở Tư pháp",
    "Sở Công Thương",
    "Sở Nông nghiệp và Môi trường",
    "Sở Xây dựng",
    "Sở Giáo dục và Đào tạo",
    "Sở Y tế",
    "Sở Văn hóa, Thể thao và Du lịch",
    "Sở Khoa học và Công nghệ",
    "Thanh tra",
    "Sở Dân tộc và Tôn giáo",
    "Sở Ngoại vụ",
)
SERVICE_CENTRE = "Trung tâm Phục vụ hành chính công"


@dataclass(frozen=True, slots=True)
class Agency:
    code: str  # electronic identifier code, e.g. 000.00.01.H37
    name: str
    kind: (
        str  # province_committee, department, service_centre, district_committee, commune_committee
    )
    unit_code: str  # the administrative unit it serves
    province_code: str
    valid_from: date | None
    valid_to: date | None
    accounts: int

    def in_force(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )

    def account(self, number: int) -> str:
        return f"{self.code}/u{number % self.accounts + 1:03d}"


def _province_agencies(
    province: AdminUnit, valid_from: date | None, valid_to: date | None, size: float
) -> list[Agency]:
    suffix = f"H{province.code}"
    agencies = [
        Agency(f"000.00.00.{suffix}", f"Ủy ban nhân dân {province.name}", "province_committee",
               province.code, province.code, valid_from, valid_to, round(60 * size)),
        Agency(f"000.00.30.{suffix}", f"{SERVICE_CENTRE} {province.name}", "service_centre",
               province.code, province.code, valid_from, valid_to, round(80 * size)),
    ]  # fmt: skip
    agencies += [
        Agency(f"000.00.{n:02d}.{suffix}", f"{name} {province.name}", "department",
               province.code, province.code, valid_from, valid_to, round(70 * size))
        for n, name in enumerate(DEPARTMENTS, start=1)
    ]  # fmt: skip
    return agencies


def _commune_code(province_code: str, index: int, block: int) -> str:
    return f"000.{index % 99 + 1:02d}.{block + index // 99:02d}.H{province_code}"


def build_agencies(region: Region) -> list[Agency]:
    """Every agency that sent, received or processed anything in the region, old and new."""
    agencies = _province_agencies(region.province, MERGER_DATE, None, size=2.0)
    agencies += [
        Agency(_commune_code(region.code, i, 50), f"Ủy ban nhân dân {c.name}",
               "commune_committee", c.code, region.code, MERGER_DATE, None, 25)
        for i, c in enumerate(region.communes)
    ]  # fmt: skip
    for province in region.old_provinces:
        agencies += _province_agencies(province, None, LAST_DAY_BEFORE_MERGER, size=1.0)
        districts = [d for d in region.old_districts if d.province_code == province.code]
        for k, district in enumerate(districts):
            agencies.append(
                Agency(f"000.00.{50 + k:02d}.H{province.code}",
                       f"Ủy ban nhân dân {district.name}", "district_committee", district.code,
                       province.code, None, LAST_DAY_BEFORE_MERGER, 40)
            )  # fmt: skip
            communes = [c for c in region.old_communes if c.parent_code == district.code]
            agencies += [
                Agency(f"000.{i + 1:02d}.{50 + k:02d}.H{province.code}",
                       f"Ủy ban nhân dân {c.name}", "commune_committee", c.code, province.code,
                       None, LAST_DAY_BEFORE_MERGER, 12)
                for i, c in enumerate(communes)
            ]  # fmt: skip
    return agencies
