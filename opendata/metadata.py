"""The CKAN metadata of a published dataset: DCAT fields in the keys ckanext-dcat reads.

ckanext-dcat's DCAT-AP profiles map these dataset extras to RDF: ``theme`` (dcat:theme),
``frequency`` (dct:accrualPeriodicity), ``language``, ``spatial_text``/``spatial_uri``
(dct:spatial), ``temporal_start``/``temporal_end`` (dct:temporal), ``issued``/``modified``,
``publisher_*`` (dct:publisher), ``contact_*`` (dcat:contactPoint) and ``identifier``.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from core.settings import Settings
from opendata.privacy import Suppressed
from opendata.spec import DatasetSpec

log = logging.getLogger(__name__)

TIMEZONE = ZoneInfo("Asia/Ho_Chi_Minh")
EU_THEME = "http://publications.europa.eu/resource/authority/data-theme/"
EU_FREQUENCY = "http://publications.europa.eu/resource/authority/frequency/"
#: DCAT-AP data themes (EU vocabulary) by plain name.
THEMES = {
    "agriculture": "AGRI",
    "economy": "ECON",
    "education": "EDUC",
    "energy": "ENER",
    "environment": "ENVI",
    "government": "GOVE",
    "health": "HEAL",
    "international": "INTR",
    "justice": "JUST",
    "regions": "REGI",
    "science": "TECH",
    "society": "SOCI",
    "transport": "TRAN",
}
FREQUENCIES = {
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "annual": "ANNUAL",
    "yearly": "ANNUAL",
    "irregular": "IRREG",
    "continuous": "UPDATE_CONT",
}
#: Extras this publisher owns on a dataset (others, set by hand on the portal, are kept).
MANAGED_EXTRAS = (
    "theme",
    "frequency",
    "language",
    "spatial_text",
    "spatial_uri",
    "temporal_start",
    "temporal_end",
    "issued",
    "modified",
    "publisher_name",
    "publisher_email",
    "contact_name",
    "contact_email",
    "provenance",
    "identifier",
    "govdata_exposure",
    "govdata_model",
    "title_en",
)


def _now() -> str:
    return dt.datetime.now(TIMEZONE).isoformat(timespec="seconds")


def extras_of(dataset: dict[str, Any] | None) -> dict[str, str]:
    return {e["key"]: e["value"] for e in (dataset or {}).get("extras", [])}


def temporal_coverage(spec: DatasetSpec, frame: pl.DataFrame) -> tuple[str, str] | None:
    """First and last day the rows cover, from the temporal (or first date) column."""
    column = spec.ckan.temporal_column or next(
        (c for c in spec.ckan.columns if frame.schema[c] == pl.Date), None
    )
    if column is None or frame.is_empty():
        return None
    values = frame[column].drop_nulls()
    if values.is_empty():
        return None
    start, end = values.min(), values.max()
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        return None
    if spec.ckan.frequency == "monthly" and bool((values.dt.day() == 1).all()):
        end = end.replace(day=calendar.monthrange(end.year, end.month)[1])
    return start.isoformat(), end.isoformat()


def privacy_note(settings: Settings, spec: DatasetSpec, suppressed: Suppressed) -> str | None:
    """Exactly what is blanked, in Vietnamese and English: cells, never rows."""
    rule, threshold = spec.ckan.suppress, settings.opendata_min_cell_count
    if rule is None or threshold <= 0:
        return None
    counts = ", ".join(f"`{c}`" for c in rule.count_columns)
    lowest = "0" if rule.zero else "lớn hơn 0"
    lowest_en = "0" if rule.zero else "above 0"
    vi = [
        f"**Bảo vệ dữ liệu cá nhân:** chỉ công bố số liệu tổng hợp. Ô số đếm {counts} có giá trị "
        f"{lowest} và nhỏ hơn {threshold} (kể cả số lẻ như 0,5 — hồ sơ chia cho hai xã kế thừa) "
        "được để trống."
    ]
    en = [
        f"**Privacy:** aggregates only. A count cell ({counts}) {lowest_en} and below "
        f"{threshold} (fractions such as 0.5 too: a dossier shared by two successor communes) "
        "is left empty."
    ]
    if rule.complementary_by:
        groups = ", ".join(f"`{c}`" for c in rule.complementary_by)
        vi.append(
            f"Trong mỗi nhóm dòng cùng {groups} (cộng lại thành tổng được công bố), nếu chỉ "
            "một ô bị ẩn thì ô nhỏ nhất tiếp theo của cùng cột cũng được để trống, để không "
            "thể suy ra ô bị ẩn bằng phép trừ."
        )
        en.append(
            f"Within each group of rows sharing {groups} (which add up to a published total), "
            "a lone hidden cell is joined by the next smallest cell of the same column, so it "
            "cannot be recovered by subtraction."
        )
    if rule.dependent_columns:
        dependent = ", ".join(f"`{c}`" for c in rule.dependent_columns)
        vi.append(f"Ở dòng có ô bị ẩn, các ô {dependent} (tính từ số đếm) cũng để trống.")
        en.append(f"In a row with a hidden count, its {dependent} cells are empty too.")
    vi.append("Chỉ các ô đó bị để trống; các ô khác của dòng vẫn được công bố.")
    en.append("Only those cells are blanked; the rest of the row is published.")
    tally = (
        f"({suppressed.cells} ô / cells: {suppressed.primary} số nhỏ / small counts, "
        f"{suppressed.complementary} ô bổ sung / complementary, trên / in {suppressed.rows} "
        "dòng / rows.)"
    )
    return " ".join(vi) + "\n\n" + " ".join(en) + "\n\n" + tally


def dataset_notes(settings: Settings, spec: DatasetSpec, suppressed: Suppressed) -> str:
    """The dataset's description: Vietnamese, then English, then source, privacy, dictionary."""
    vietnamese = spec.ckan.description or spec.ckan.notes or spec.description or spec.label
    parts = [" ".join(vietnamese.split())]
    if spec.description and spec.description != vietnamese:
        parts.append(f"**English — {spec.label}.** {spec.description}")
    parts.append(
        f"**Nguồn dữ liệu / Source:** mô hình `{spec.model}` của kho dữ liệu tỉnh "
        f"(dbt model `{spec.model}` of the provincial data warehouse)."
    )
    note = privacy_note(settings, spec, suppressed)
    if note:
        parts.append(note)
    parts.append(
        "**Từ điển dữ liệu / Data dictionary:** tệp `.schema.json` (Frictionless Table Schema, "
        "tiếng Việt và tiếng Anh) và mục “Data Dictionary” của tài nguyên CSV."
    )
    return "\n\n".join(parts)


def dataset_metadata(
    settings: Settings,
    spec: DatasetSpec,
    frame: pl.DataFrame,
    suppressed: Suppressed,
    existing: dict[str, Any] | None,
    data_changed: bool,
) -> dict[str, Any]:
    """The dataset's CKAN fields, DCAT extras in the keys ckanext-dcat reads."""
    old = extras_of(existing)
    now = _now()
    ours: dict[str, str | None] = {
        "identifier": spec.name,
        "theme": _vocabulary(spec.ckan.theme, THEMES, EU_THEME),
        "frequency": _vocabulary(spec.ckan.frequency, FREQUENCIES, EU_FREQUENCY),
        "language": spec.ckan.language,
        "spatial_text": spec.ckan.spatial,
        "spatial_uri": spec.ckan.spatial_uri,
        "issued": old.get("issued") or now,
        "modified": now if data_changed or "modified" not in old else old["modified"],
        "publisher_name": settings.ckan_organization_title,
        "publisher_email": spec.owner.email,
        "contact_name": spec.owner.name,
        "contact_email": spec.owner.email,
        "provenance": f"dbt model {spec.model} ({spec.schema}.{spec.relation})",
        "govdata_exposure": spec.exposure,
        "govdata_model": spec.model,
        "title_en": spec.label,
    }
    coverage = temporal_coverage(spec, frame)
    if coverage:
        ours["temporal_start"], ours["temporal_end"] = coverage
    kept = {k: v for k, v in old.items() if k not in MANAGED_EXTRAS}
    extras = {**kept, **{k: v for k, v in ours.items() if v}}
    return {
        "name": spec.name,
        "title": spec.ckan.title,
        "notes": dataset_notes(settings, spec, suppressed),
        "owner_org": settings.ckan_organization,
        "private": False,
        "license_id": spec.ckan.license_id or settings.opendata_licence,
        "author": settings.ckan_organization_title,
        "author_email": spec.owner.email,
        "maintainer": spec.owner.name,
        "maintainer_email": spec.owner.email,
        "tags": [{"name": tag} for tag in spec.ckan.tags],
        "extras": [{"key": k, "value": v} for k, v in sorted(extras.items())],
    }


def metadata_differs(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether a ``package_patch`` would change anything (so a no-op publish stays one)."""
    for key, value in wanted.items():
        if key == "owner_org":
            current = (existing.get("organization") or {}).get("name")
        elif key == "tags":
            current = [{"name": t["name"]} for t in existing.get("tags", [])]
            current, value = sorted(t["name"] for t in current), sorted(t["name"] for t in value)
        elif key == "extras":
            current, value = extras_of(existing), {e["key"]: e["value"] for e in value}
        else:
            current = existing.get(key)
        if (current or None) != (value or None):
            log.debug("dataset %s: %s changed", wanted["name"], key)
            return True
    return False


def _vocabulary(value: str | None, codes: dict[str, str], base: str) -> str | None:
    if not value:
        return None
    if value.startswith(("http://", "https://")):
        return value
    code = codes.get(value.lower(), value.upper() if value.isupper() else None)
    return base + code if code else value
