"""Administrative units of the simulated province, before and after the 2025 merger.

From the ``vietnamadminunits`` package: the 34 provinces and 3,321 communes in force since
1 July 2025 (Decision 19/2025/QĐ-TTg), the 63 provinces / 696 districts / ~10,000 communes in
force before, and its old-to-new converter. A real province's systems recorded the old units
until 30 June 2025 and the new ones after, with many codes reused for a different unit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib.resources import files

from vietnamadminunits.database import query

MERGER_DATE = date(2025, 7, 1)
LAST_DAY_BEFORE_MERGER = MERGER_DATE - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class AdminUnit:
    code: str
    name: str
    level: str  # province, district or commune
    unit_type: str  # Tỉnh, Thành phố, Quận, Huyện, Thị xã, Phường, Xã, Thị trấn, Đặc khu
    parent_code: str | None
    province_code: str
    valid_from: date | None  # None: since before any data we hold
    valid_to: date | None  # None: still in force

    def in_force(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )


@dataclass(frozen=True, slots=True)
class Region:
    """A province after the merger and the old provinces it was formed from."""

    province: AdminUnit
    communes: tuple[AdminUnit, ...]
    old_provinces: tuple[AdminUnit, ...]
    old_districts: tuple[AdminUnit, ...]
    old_communes: tuple[AdminUnit, ...]
    # Old commune code → new commune codes; the first is where most of it went.
    successors: dict[str, tuple[str, ...]]

    @property
    def code(self) -> str:
        return self.province.code

    @property
    def name(self) -> str:
        return self.province.name


def _unit_type(name: str) -> str:
    for prefix in ("Thành phố", "Thị xã", "Thị trấn", "Đặc khu"):
        if name.startswith(prefix):
            return prefix
    return name.split(" ", 1)[0]


@cache
def _converter() -> dict[str, dict]:
    data = files("vietnamadminunits") / "data" / "converter_2025.json"
    return json.loads(data.read_text(encoding="utf-8"))


@cache
def load_region(province_code: str) -> Region:
    """The province ``province_code`` (one of the 34) with its pre-merger predecessors."""
    code = f"{int(province_code):02d}" if province_code.isdigit() else province_code
    rows = query(
        "select distinct province, provinceKey, provinceCode, ward, wardKey, wardType, wardCode "
        f"from admin_units where provinceCode = '{code}' order by wardCode"
    )
    if not rows:
        raise ValueError(f"unknown province code {province_code!r}: expected one of the 34 codes")
    province_key = rows[0]["provinceKey"]
    province = AdminUnit(
        code,
        rows[0]["province"],
        "province",
        _unit_type(rows[0]["province"]),
        None,
        code,
        MERGER_DATE,
        None,
    )
    communes = tuple(
        AdminUnit(r["wardCode"], r["ward"], "commune", r["wardType"], code, code, MERGER_DATE,
                  None)
        for r in rows
    )  # fmt: skip
    new_code_by_key = {r["wardKey"]: r["wardCode"] for r in rows}

    converter = _converter()
    old_keys = converter["DICT_PROVINCE"][province_key]
    placeholders = ", ".join(f"'{k}'" for k in old_keys)
    legacy = query(
        "select distinct province, provinceKey, provinceCode, district, districtKey, "
        "districtCode, ward, wardKey, wardType, wardCode from admin_units_legacy "
        f"where provinceKey in ({placeholders}) order by provinceCode, districtCode, wardCode"
    )
    end = LAST_DAY_BEFORE_MERGER
    old_provinces: dict[str, AdminUnit] = {}
    old_districts: dict[str, AdminUnit] = {}
    old_communes: list[AdminUnit] = []
    old_code_by_key: dict[str, str] = {}
    for r in legacy:
        p = r["provinceCode"]
        old_provinces.setdefault(
            p, AdminUnit(p, r["province"], "province", _unit_type(r["province"]), None, p,
                         None, end),
        )  # fmt: skip
        old_districts.setdefault(
            r["districtCode"],
            AdminUnit(r["districtCode"], r["district"], "district", _unit_type(r["district"]),
                      p, p, None, end),
        )  # fmt: skip
        if r["wardCode"] is None:  # an island district without communes (Bạch Long Vĩ, …)
            continue
        old_communes.append(
            AdminUnit(r["wardCode"], r["ward"], "commune", r["wardType"], r["districtCode"], p,
                      None, end)
        )  # fmt: skip
        old_code_by_key[f"{r['provinceKey']}_{r['districtKey']}_{r['wardKey']}"] = r["wardCode"]

    successors: dict[str, list[str]] = {}
    for new_key, old_list in converter["DICT_PROVINCE_WARD_NO_DIVIDED"][province_key].items():
        for old_key in old_list:
            if old_key in old_code_by_key:
                successors.setdefault(old_code_by_key[old_key], []).append(new_code_by_key[new_key])
    divided = converter["DICT_PROVINCE_WARD_DIVIDED"].get(province_key, {})
    for old_key, targets in divided.items():
        if old_key not in old_code_by_key:
            continue
        ordered = sorted(targets, key=lambda t: not t["isDefaultNewWard"])
        successors[old_code_by_key[old_key]] = [new_code_by_key[t["newWardKey"]] for t in ordered]
    return Region(
        province=province,
        communes=communes,
        old_provinces=tuple(old_provinces.values()),
        old_districts=tuple(old_districts.values()),
        old_communes=tuple(old_communes),
        successors={old: tuple(dict.fromkeys(new)) for old, new in successors.items()},
    )
