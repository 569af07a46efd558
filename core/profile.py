"""The province profile: every province-specific name the platform shows, from its code.

The platform serves any of the 34 provinces in force since 1 July 2025 (Decision
19/2025/QĐ-TTg). ``GOVDATA_PROVINCE_CODE`` picks one; everything that names it — dashboard
titles and slugs, the portal's site title and organisation, the publisher and spatial coverage
of every published dataset, the agency code suffix, the provinces merged into it — comes from
here, derived from the official unit lists of ``vietnamadminunits``, never from literals.

    profile = province_profile("37")
    profile.name            # 'Tỉnh Ninh Bình'
    profile.short_name      # 'Ninh Bình'
    profile.slug            # 'ninh-binh'
    profile.merged_from     # (('35', 'Tỉnh Hà Nam'), ('36', 'Tỉnh Nam Định'), ('37', ...))

A code that is not one of the 34 raises :class:`~core.errors.SettingsError` naming the valid
codes and, for a pre-merger province, the province it became.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.resources import files

from vietnamadminunits.database import query

from core.errors import SettingsError

MERGER_DATE = date(2025, 7, 1)
PLACEHOLDER = re.compile(r"\$\{(province_[a-z_]+)\}")
UNIT_TYPES = ("Thành phố", "Tỉnh")


def ascii_slug(text: str) -> str:
    """'Thành phố Hồ Chí Minh' -> 'thanh-pho-ho-chi-minh' (Vietnamese letters folded)."""
    folded = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    plain = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return "-".join("".join(c if c.isalnum() else " " for c in plain).split())


def short_name(official: str) -> str:
    """'Tỉnh Ninh Bình' -> 'Ninh Bình'; 'Thành phố Hà Nội' -> 'Hà Nội'."""
    for unit_type in UNIT_TYPES:
        if official.startswith(f"{unit_type} "):
            return official[len(unit_type) + 1 :]
    return official


@dataclass(frozen=True, slots=True)
class ProvinceProfile:
    """One of the 34 provinces, with the names the platform shows for it."""

    code: str  # two digits, Decision 19/2025/QĐ-TTg
    name: str  # official: 'Tỉnh Ninh Bình', 'Thành phố Hà Nội'
    merged_from: tuple[tuple[str, str], ...]  # (code, official name) of the old provinces

    @property
    def short_name(self) -> str:
        return short_name(self.name)

    @property
    def unit_type(self) -> str:
        """'Tỉnh' or 'Thành phố' (a centrally-run city)."""
        return self.name[: len(self.name) - len(self.short_name)].strip()

    @property
    def slug(self) -> str:
        """URL-safe short name: 'ninh-binh', 'ho-chi-minh'."""
        return ascii_slug(self.short_name)

    @property
    def ascii_name(self) -> str:
        """The short name without diacritics, for English text: 'Ninh Binh'."""
        return " ".join(part.capitalize() for part in self.slug.split("-"))

    @property
    def was_merged(self) -> bool:
        """True when other provinces were merged into it on 1 July 2025."""
        return len(self.merged_from) > 1

    @property
    def agency_code_suffix(self) -> str:
        """The last part of its agencies' electronic identifier codes: '000.00.01.H37'."""
        return f"H{self.code}"

    @property
    def committee(self) -> str:
        """The people's committee, publisher of its open data: 'Ủy ban nhân dân tỉnh Ninh Bình'."""
        return f"Ủy ban nhân dân {self.unit_type.lower()} {self.short_name}"

    @property
    def organization(self) -> str:
        """The open-data portal's organisation (publisher) name: 'ninh-binh'."""
        return self.slug

    @property
    def portal_title(self) -> str:
        return f"Cổng dữ liệu mở {self.unit_type.lower()} {self.short_name}"

    @property
    def spatial(self) -> str:
        """Spatial coverage of its datasets, as text: 'Tỉnh Ninh Bình (mã 37)'."""
        return f"{self.name} (mã {self.code})"

    @property
    def contact_email(self) -> str:
        """The data team's address, as provinces name them: opendata@ninhbinh.gov.vn."""
        return f"opendata@{self.slug.replace('-', '')}.gov.vn"

    @property
    def data_team(self) -> str:
        return f"{self.ascii_name} provincial data team"

    def dashboard_slug(self, topic: str) -> str:
        """A dashboard's URL slug: dashboard_slug('kpi') -> 'kpi-ninh-binh'."""
        return f"{topic}-{self.slug}"

    def dashboard_title(self, topic: str) -> str:
        """A dashboard's title: '<topic> — Ninh Bình'."""
        return f"{topic} — {self.short_name}"

    def render(self, text: str, origin: str = "template") -> str:
        """Fill ``${province_...}`` placeholders (see :meth:`template_variables`) in ``text``.

        Only ``${province_*}`` is a placeholder, so SQL, Jinja and JSON in the same file pass
        through untouched; an unknown one is an error naming the file, never left blank.
        """
        variables = self.template_variables()

        def fill(match: re.Match[str]) -> str:
            try:
                return variables[match.group(1)]
            except KeyError:
                known = ", ".join(sorted(variables))
                raise SettingsError(
                    f"{origin}: unknown placeholder ${{{match.group(1)}}}; known: {known}"
                ) from None

        return PLACEHOLDER.sub(fill, text)

    def template_variables(self) -> dict[str, str]:
        """What templated assets (dashboards, exposures, portal config) may name."""
        return {
            "province_code": self.code,
            "province_name": self.name,
            "province_short_name": self.short_name,
            "province_ascii_name": self.ascii_name,
            "province_slug": self.slug,
            "province_unit_type": self.unit_type,
            "province_committee": self.committee,
            "province_organization": self.organization,
            "province_portal_title": self.portal_title,
            "province_spatial": self.spatial,
            "province_contact_email": self.contact_email,
            "province_data_team": self.data_team,
            "province_agency_code_suffix": self.agency_code_suffix,
            "province_kpi_dashboard_slug": self.dashboard_slug("kpi"),
            "province_merged_from": ", ".join(
                f"{name} ({code})" for code, name in self.merged_from
            ),
        }


@cache
def _current() -> dict[str, tuple[str, str]]:
    """Code -> (official name, key) of the 34 provinces in force since 1 July 2025."""
    rows = query("select distinct provinceCode, province, provinceKey from admin_units")
    return {r["provinceCode"]: (r["province"], r["provinceKey"]) for r in rows}


@cache
def _legacy() -> dict[str, tuple[str, str]]:
    """Code -> (official name, key) of the 63 provinces in force until 30 June 2025."""
    rows = query("select distinct provinceCode, province, provinceKey from admin_units_legacy")
    return {r["provinceCode"]: (r["province"], r["provinceKey"]) for r in rows}


@cache
def _merged_into() -> dict[str, list[str]]:
    """New province key -> keys of the old provinces it was formed from."""
    data = files("vietnamadminunits") / "data" / "converter_2025.json"
    return json.loads(data.read_text(encoding="utf-8"))["DICT_PROVINCE"]


def province_codes() -> list[str]:
    """The 34 codes in force since 1 July 2025, in order."""
    return sorted(_current())


def _successor(old_code: str) -> str | None:
    """The code of the province a pre-merger province became part of."""
    _, old_key = _legacy()[old_code]
    for code, (_, key) in _current().items():
        if old_key in _merged_into().get(key, ()):
            return code
    return None


@cache
def province_profile(code: str) -> ProvinceProfile:
    """The profile of one of the 34 provinces; a clear SettingsError for any other code."""
    normalised = f"{int(code):02d}" if code.strip().isdigit() else code.strip()
    current = _current()
    if normalised not in current:
        valid = ", ".join(f"{c} {short_name(current[c][0])}" for c in province_codes())
        legacy = _legacy()
        if normalised in legacy and (successor := _successor(normalised)) is not None:
            raise SettingsError(
                f"province code {normalised} ({legacy[normalised][0]}) no longer exists: since "
                f"1 July 2025 it is part of {successor} ({current[successor][0]}); set "
                f"GOVDATA_PROVINCE_CODE={successor}. Valid codes: {valid}"
            )
        raise SettingsError(
            f"unknown province code {code!r}: expected one of the 34 provinces in force since "
            f"1 July 2025: {valid}"
        )
    name, key = current[normalised]
    legacy_by_key = {k: (c, n) for c, (n, k) in _legacy().items()}
    merged = sorted(legacy_by_key[k] for k in _merged_into().get(key, ()) if k in legacy_by_key)
    return ProvinceProfile(normalised, name, tuple(merged))
