"""Regenerate the ``admin_units`` and ``admin_unit_crosswalk`` seeds from ``vietnamadminunits``.

Run with the core venv: ``.venv/bin/python dbt_project/scripts/generate_admin_units.py``.
The package version is written into each seed's yml so the reference data can be traced.

- ``admin_units``: every unit keyed by code and validity period, before and after the
  1 July 2025 reorganisation (codes were reused with another meaning).
- ``admin_unit_crosswalk``: old unit → new unit, from the package's old-to-new converter
  (``converter_2025.json``): old provinces → new provinces, old districts (abolished) → the
  new province, the five island districts without communes → the special zone (đặc khu) that
  replaced them, old communes → new communes, with the package's "divided" flag (an old
  commune split across several new ones) and its default successor of each split commune.
"""

from __future__ import annotations

import csv
import json
import unicodedata
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import yaml
from vietnamadminunits.database import query

SEEDS = Path(__file__).resolve().parent.parent / "seeds"
MERGER_DATE = "2025-07-01"  # Decision 19/2025/QĐ-TTg codes are in force from this day
LAST_DAY_BEFORE = "2025-06-30"
LEVEL_ORDER = {"province": 0, "district": 1, "commune": 2}
UNIT_COLUMNS = (
    "unit_key",
    "unit_code",
    "unit_name",
    "unit_name_ascii",
    "unit_level",
    "unit_type",
    "parent_code",
    "parent_unit_key",
    "province_code",
    "current_province_code",
    "valid_from",
    "valid_to",
)
CROSSWALK_COLUMNS = (
    "old_unit_code",
    "old_unit_level",
    "new_unit_code",
    "new_unit_level",
    "effective_date",
    "is_partly_merged",
    "is_default_successor",
)

# Seed column types are rendered per target: Spark has no unbounded varchar (its text is
# "string"); dbt renders the expression in the seed's yml.
TEXT_TYPE = "{{ 'string' if target.type == 'spark' else 'varchar' }}"


def ascii_name(name: str) -> str:
    """The name without diacritics: 'Thành phố Phủ Lý' → 'Thanh pho Phu Ly'."""
    decomposed = unicodedata.normalize("NFD", name.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def unit_key(code: str, valid_from: str, valid_to: str) -> str:
    """Code and validity as an ISO 8601-like interval: '37/..2025-06-30', '37/2025-07-01..'."""
    return f"{code}/{valid_from}..{valid_to}"


def _unit_type(name: str) -> str:
    for prefix in ("Thành phố", "Thị xã", "Thị trấn", "Đặc khu"):
        if name.startswith(prefix):
            return prefix
    return name.split(" ", 1)[0]


def _unit(code: str, name: str, level: str, unit_type: str, parent: str, province: str,
          current_province: str, valid_from: str, valid_to: str) -> dict[str, str]:  # fmt: skip
    return {
        "unit_key": unit_key(code, valid_from, valid_to),
        "unit_code": code,
        "unit_name": name,
        "unit_name_ascii": ascii_name(name),
        "unit_level": level,
        "unit_type": unit_type,
        "parent_code": parent,
        "parent_unit_key": unit_key(parent, valid_from, valid_to) if parent else "",
        "province_code": province,
        "current_province_code": current_province,
        "valid_from": valid_from,
        "valid_to": valid_to,
    }


def _converter() -> dict:
    data = files("vietnamadminunits") / "data" / "converter_2025.json"
    return json.loads(data.read_text(encoding="utf-8"))


def _new_province_by_old_key() -> dict[str, str]:
    new_province_by_key = {
        r["provinceKey"]: r["provinceCode"]
        for r in query("select distinct provinceKey, provinceCode from admin_units")
    }
    return {
        old_key: new_province_by_key[new_key]
        for new_key, old_keys in _converter()["DICT_PROVINCE"].items()
        for old_key in old_keys
    }


def _legacy_rows() -> list[dict]:
    return query(
        "select distinct province, provinceKey, provinceCode, district, districtKey, "
        "districtCode, ward, wardKey, wardType, wardCode from admin_units_legacy "
        "order by provinceCode, districtCode, wardCode"
    )


def current_units() -> list[dict[str, str]]:
    rows = query(
        "select distinct provinceCode, province, wardCode, ward, wardType from admin_units "
        "order by provinceCode, wardCode"
    )
    provinces = {r["provinceCode"]: r["province"] for r in rows}
    units = [
        _unit(code, name, "province", _unit_type(name), "", code, code, MERGER_DATE, "")
        for code, name in sorted(provinces.items())
    ]
    units += [
        _unit(r["wardCode"], r["ward"], "commune", r["wardType"], r["provinceCode"],
              r["provinceCode"], r["provinceCode"], MERGER_DATE, "")
        for r in rows
    ]  # fmt: skip
    return units


def legacy_units() -> list[dict[str, str]]:
    """The 63 provinces, their districts and communes in force until 30 June 2025."""
    successor = _new_province_by_old_key()
    units: dict[tuple[str, str], dict[str, str]] = {}
    for r in _legacy_rows():
        current, province = successor[r["provinceKey"]], r["provinceCode"]
        for code, name, level, unit_type, parent in (
            (province, r["province"], "province", _unit_type(r["province"]), ""),
            (r["districtCode"], r["district"], "district", _unit_type(r["district"]), province),
            (r["wardCode"], r["ward"], "commune", r["wardType"], r["districtCode"]),
        ):
            if not code:  # island districts without communes have no commune row
                continue
            units.setdefault(
                (level, code),
                _unit(code, name, level, unit_type, parent, province, current, "",
                      LAST_DAY_BEFORE),
            )  # fmt: skip
    return sorted(units.values(), key=lambda u: (LEVEL_ORDER[u["unit_level"]], u["unit_code"]))


def crosswalk() -> list[dict[str, str]]:
    """Old unit → new unit pairs of the 1 July 2025 reorganisation."""
    converter = _converter()
    new_province = _new_province_by_old_key()
    new_commune = {
        (r["provinceCode"], r["wardKey"]): r["wardCode"]
        for r in query("select provinceCode, wardKey, wardCode from admin_units")
    }
    legacy = _legacy_rows()
    # The converter names an old commune "<province>_<district>_<commune>" by keys; an island
    # district without communes is "<province>_<district>_".
    old_unit = {
        f"{r['provinceKey']}_{r['districtKey']}_{r['wardKey'] or ''}": (
            (r["wardCode"], "commune") if r["wardCode"] else (r["districtCode"], "district")
        )
        for r in legacy
    }
    pairs: dict[tuple[str, str, str, str], dict[str, str]] = {}

    def add(old: tuple[str, str], new: tuple[str, str], partly: bool, default: bool) -> None:
        row = {
            "old_unit_code": old[0], "old_unit_level": old[1],
            "new_unit_code": new[0], "new_unit_level": new[1],
            "effective_date": MERGER_DATE,
            "is_partly_merged": str(partly).lower(), "is_default_successor": str(default).lower(),
        }  # fmt: skip
        pairs.setdefault((old[1], old[0], new[1], new[0]), row)

    for r in legacy:  # whole provinces merged; districts were abolished into the new province
        to = (new_province[r["provinceKey"]], "province")
        add((r["provinceCode"], "province"), to, partly=False, default=True)
        add((r["districtCode"], "district"), to, partly=False, default=True)
    for new_key, new_communes in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items():
        for new_commune_key, old_keys in new_communes.items():
            province = new_province[new_key]
            to = (new_commune[(province, new_commune_key)], "commune")
            for old_key in old_keys:
                add(old_unit[old_key], to, partly=False, default=True)
    for new_key, divided in converter["DICT_PROVINCE_WARD_DIVIDED"].items():
        province = new_province[new_key]
        for old_key, targets in divided.items():
            for target in targets:
                to = (new_commune[(province, target["newWardKey"])], "commune")
                add(old_unit[old_key], to, partly=True, default=target["isDefaultNewWard"])
    return [pairs[key] for key in sorted(pairs, key=lambda k: (LEVEL_ORDER[k[0]], *k[1:]))]


def _seed_spec(name: str, description: str, package_version: str, columns: list[dict],
               types: dict[str, str]) -> str:  # fmt: skip
    spec = {
        "version": 2,
        "seeds": [
            {
                "name": name,
                "description": description,
                "meta": {"generated_from": f"vietnamadminunits=={package_version}"},
                "config": {"column_types": types},
                "columns": columns,
            }
        ],
    }
    return "# Generated by scripts/generate_admin_units.py; do not edit by hand.\n" + (
        yaml.safe_dump(spec, allow_unicode=True, sort_keys=False, width=88)
    )


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def units_spec(package_version: str) -> str:
    return _seed_spec(
        "admin_units",
        "Administrative units keyed by code and validity: the 34 provinces and 3,321 communes "
        "in force since the 1 July 2025 reorganisation, and the 63 provinces, their districts "
        "and communes in force until 30 June 2025 (codes were reused with another meaning), "
        f"generated by scripts/generate_admin_units.py from vietnamadminunits {package_version}.",
        package_version,
        [
            {"name": "unit_key", "description": "Code and validity period, unique: "
             "'<code>/<valid_from>..<valid_to>' (e.g. '37/..2025-06-30', '37/2025-07-01..').",
             "data_tests": ["not_null", "unique"]},
            {"name": "unit_code", "description": "Official code: 2 digits for a province, 3 "
             "for a district, 5 for a commune.", "data_tests": ["not_null"]},
            {"name": "unit_name", "description": "Official name with its type prefix."},
            {"name": "unit_name_ascii", "description": "unit_name without diacritics (đ → d)."},
            {"name": "unit_level", "description": "province, district (until 30 June 2025) or "
             "commune.", "data_tests": [{"accepted_values": {"arguments": {
                 "values": ["province", "district", "commune"]}}}]},
            {"name": "unit_type", "description": "Tỉnh, Thành phố, Quận, Huyện, Thị xã, "
             "Phường, Xã, Thị trấn or Đặc khu."},
            {"name": "parent_code", "description": "The unit one level up in the same period: "
             "the province of a new commune or of a district, the district of an old commune; "
             "empty for a province."},
            {"name": "parent_unit_key", "description": "unit_key of the parent (in force "
             "over the same period); empty for a province."},
            {"name": "province_code", "description": "The province the unit belonged to while "
             "it was in force (an old province for an old unit)."},
            {"name": "current_province_code", "description": "The province the unit belongs "
             "to since 1 July 2025 (itself for a current province)."},
            {"name": "valid_from", "description": "First day the code has this meaning; empty "
             "when it had it before any data held."},
            {"name": "valid_to", "description": "Last day the code had this meaning; empty "
             "while in force."},
        ],
        {c: TEXT_TYPE for c in UNIT_COLUMNS} | {"valid_from": "date", "valid_to": "date"},
    )  # fmt: skip


def crosswalk_spec(package_version: str) -> str:
    return _seed_spec(
        "admin_unit_crosswalk",
        "Old administrative unit → new unit of the 1 July 2025 reorganisation, many-to-many, "
        "from the old-to-new converter of vietnamadminunits "
        f"{package_version} (converter_2025.json), generated by "
        "scripts/generate_admin_units.py. Old provinces → the new province they merged into; "
        "old districts (abolished) → the new province (their communes carry the detail), and "
        "the five island districts without communes also → the special zone that replaced "
        "them; old communes → the new communes they became, several when split.",
        package_version,
        [
            {"name": "old_unit_code", "description": "Code of the unit in force until 30 June "
             "2025.", "data_tests": ["not_null"]},
            {"name": "old_unit_level", "description": "province, district or commune."},
            {"name": "new_unit_code", "description": "Code of a unit in force since 1 July "
             "2025 that took over all or part of the old unit.", "data_tests": ["not_null"]},
            {"name": "new_unit_level", "description": "province or commune."},
            {"name": "effective_date", "description": "Day the new unit took over (1 July "
             "2025)."},
            {"name": "is_partly_merged", "description": "The old unit was split: only part of "
             "it went to this new unit (the package's divided communes)."},
            {"name": "is_default_successor", "description": "The new unit the package's "
             "converter picks for the old unit when no street address tells the part: the "
             "only successor, or the default one of a split commune."},
        ],
        {c: TEXT_TYPE for c in CROSSWALK_COLUMNS}
        | {"effective_date": "date", "is_partly_merged": "boolean",
           "is_default_successor": "boolean"},
    )  # fmt: skip


def main(seeds: Path = SEEDS) -> None:
    package_version = version("vietnamadminunits")
    units = current_units() + legacy_units()
    _write_csv(seeds / "admin_units.csv", UNIT_COLUMNS, units)
    (seeds / "admin_units.yml").write_text(units_spec(package_version), encoding="utf-8")
    pairs = crosswalk()
    _write_csv(seeds / "admin_unit_crosswalk.csv", CROSSWALK_COLUMNS, pairs)
    (seeds / "admin_unit_crosswalk.yml").write_text(
        crosswalk_spec(package_version), encoding="utf-8"
    )
    print(
        f"{len(units)} units and {len(pairs)} crosswalk pairs written from "
        f"vietnamadminunits {package_version}"
    )


if __name__ == "__main__":
    main()
