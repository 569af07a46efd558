"""What to publish, read from the dbt manifest: exposures whose ``meta.ckan`` declares a dataset.

The published datasets are declared next to the models they come from (as cal-itp/data-infra
does), not in Python. In ``dbt_project/models/marts/_exposures.yml``::

    exposures:
      - name: opendata_online_dossier_rate
        label: Online dossier rate by unit and month
        type: application
        owner: {name: "${province_data_team}", email: "${province_contact_email}"}
        depends_on: [ref('kpi_unit_month')]
        description: "..."                  # the dataset's description (Markdown)
        meta:
          ckan:
            name: ty-le-ho-so-truc-tuyen    # dataset slug (URL)
            title: "Tỷ lệ hồ sơ trực tuyến ..."   # Vietnamese title (label: the English)
            description: "Tỷ lệ hồ sơ ..."         # Vietnamese description (English above)
            model: kpi_unit_month           # one of depends_on (optional when only one)
            where: {kpi_code: "766.3.3"}      # optional row filter (declarative, see Filter)
            columns: [period_month, unit_code, ...]   # published columns, nothing else
            primary_key: [period_month, unit_code]   # optional, for the Table Schema
            suppress:                       # opendata.privacy
              count_columns: [numerator, denominator]
              dependent_columns: [rate]
              complementary_by: [period_month, kpi_code]
            tags: [thu-tuc-hanh-chinh, chi-so-766]
            theme: government               # DCAT theme (EU data-theme code or URI)
            frequency: monthly              # DCAT accrualPeriodicity
            language: vi
            spatial: "${province_spatial}"  # spatial coverage, as text (DCAT spatial_text)
            temporal_column: period_month   # optional: coverage from this date column

The data dictionary is the model's own dbt documentation: each published column must be
documented in the model's YAML (``description`` in English; ``meta.label``, the Vietnamese
display label, ``meta.description_vi``, the Vietnamese description, and ``meta.unit``).
A column marked ``meta: {personal: true}``, or whose name looks like
personal data (owner, name of a person, phone, e-mail, identity number, address...), makes
the publish fail: only aggregates leave the warehouse.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import PublishError
from core.profile import ProvinceProfile


class SpecError(PublishError, ValueError):
    """The manifest's publishing declarations are missing, invalid or unsafe."""


class PersonalDataError(SpecError):
    """A declared column is, or looks like, personal data."""


_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"

#: Name fragments (lower-case, separators removed) that mark a column as personal data:
#: the dossier owner (ChuHoSo), people's names, contact details, identity documents, accounts.
PERSONAL_NAME_FRAGMENTS = (
    "chuhoso",
    "hoten",
    "fullname",
    "firstname",
    "lastname",
    "personname",
    "citizenname",
    "phone",
    "dienthoai",
    "email",
    "cccd",
    "cmnd",
    "identity",
    "idnumber",
    "nationalid",
    "citizenid",
    "passport",
    "hochieu",
    "diachi",
    "address",
    "ngaysinh",
    "birth",
    "vneid",
    "taikhoan",
    "nguoixuly",
    "nguoinop",
    "applicant",
)


class Suppression(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count_columns: list[str] = Field(min_length=1)
    dependent_columns: list[str] = Field(default_factory=list)
    #: Also suppress zero counts (a zero identifies nobody, so it is kept by default).
    zero: bool = False
    #: Columns whose values group rows that add up to a published total (e.g. the province
    #: row and its communes in one month and indicator): a lone hidden cell in a group is
    #: joined by the next smallest, so subtraction cannot recover it.
    complementary_by: list[str] = Field(default_factory=list)


#: A row filter's condition on one column: a value (equal), a list (one of), or
#: ``{starts_with: text}``. Declarative on purpose: never SQL text, so a filter can select
#: nothing but rows of its own model (values travel as query parameters).
Scalar = str | int | float | bool
Condition = Scalar | list[Scalar] | dict[str, str]


class CkanMeta(BaseModel):
    """``meta.ckan`` of an exposure."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9_-]{2,100}$")
    title: str = Field(min_length=1)  # Vietnamese; the exposure's label is the English one
    #: Vietnamese description (Markdown); the exposure's description is the English one.
    description: str | None = None
    model: str | None = Field(None, pattern=_IDENTIFIER)
    where: dict[str, Condition] = Field(default_factory=dict)
    columns: list[str] = Field(min_length=1)
    primary_key: list[str] = Field(default_factory=list)
    order_by: list[str] = Field(default_factory=list)
    suppress: Suppression | None = None
    tags: list[str] = Field(default_factory=list)
    theme: str | None = None
    frequency: str | None = None
    language: str = "vi"
    spatial: str | None = None
    spatial_uri: str | None = None
    temporal_column: str | None = None
    license_id: str | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CkanMeta:
        for column in self.columns:
            if not re.match(_IDENTIFIER, column):
                raise ValueError(f"invalid column name {column!r}")
        if len(set(self.columns)) != len(self.columns):
            raise ValueError("columns are listed twice")
        declared = set(self.columns)
        groups: dict[str, list[str]] = {
            "primary_key": self.primary_key,
            "order_by": self.order_by,
            "temporal_column": [self.temporal_column] if self.temporal_column else [],
        }
        if self.suppress:
            groups["suppress.count_columns"] = self.suppress.count_columns
            groups["suppress.dependent_columns"] = self.suppress.dependent_columns
            groups["suppress.complementary_by"] = self.suppress.complementary_by
        for label, names in groups.items():
            unknown = [n for n in names if n not in declared]
            if unknown:
                raise ValueError(f"{label} names columns not in `columns`: {unknown}")
        for column, condition in self.where.items():
            if not re.match(_IDENTIFIER, column):
                raise ValueError(f"where: invalid column name {column!r}")
            if isinstance(condition, dict) and set(condition) != {"starts_with"}:
                raise ValueError(f"where: {column}: a mapping must be {{starts_with: text}}")
            if isinstance(condition, list) and not condition:
                raise ValueError(f"where: {column}: an empty list selects nothing")
        return self


@dataclass(frozen=True)
class ColumnDoc:
    """One published column and its data dictionary entry, from the model's dbt docs."""

    name: str
    description: str  # English, the dbt column description
    label: str  # Vietnamese display label (meta.label), else the name
    unit: str | None
    data_type: str | None
    description_vi: str | None = None  # meta.description_vi

    @property
    def bilingual(self) -> str:
        """The data dictionary entry: Vietnamese, then English."""
        if self.description_vi:
            return f"{self.description_vi} — {self.description}"
        return self.description


@dataclass(frozen=True)
class Owner:
    name: str | None
    email: str | None


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset to publish: the exposure, its model and its documented columns."""

    exposure: str
    label: str
    description: str
    owner: Owner
    ckan: CkanMeta
    model: str
    schema: str
    relation: str
    model_description: str
    columns: tuple[ColumnDoc, ...]

    @property
    def name(self) -> str:
        return self.ckan.name

    def column(self, name: str) -> ColumnDoc:
        return next(c for c in self.columns if c.name == name)


def default_manifest_path() -> Path:
    """Where dbt wrote the manifest: its target path (``DBT_TARGET_PATH``, relative to the
    project as dbt reads it, else ``dbt_project/target``)."""
    from core.settings import REPO_ROOT

    project = REPO_ROOT / "dbt_project"
    return project / os.environ.get("DBT_TARGET_PATH", "target") / "manifest.json"


def load_manifest(path: Path | None = None) -> dict[str, Any]:
    path = path or default_manifest_path()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(
            f"dbt manifest not found at {path}: run `dbt parse` (or `govdata build`) first"
        ) from None


def _meta(node: dict[str, Any]) -> dict[str, Any]:
    """dbt 1.10+ keeps ``meta`` under ``config`` too; merge both (top level wins)."""
    return {**(node.get("config") or {}).get("meta", {}), **(node.get("meta") or {})}


def personal_reason(name: str, meta: dict[str, Any]) -> str | None:
    """Why a column counts as personal data, or None. ``meta.personal`` decides when set."""
    flag = meta.get("personal")
    if flag is True or str(flag).lower() == "true":
        return "its dbt meta says personal: true"
    if flag is not None:
        return None  # an explicit personal: false overrides the name heuristic
    squashed = re.sub(r"[^a-z0-9]", "", name.lower())
    for fragment in PERSONAL_NAME_FRAGMENTS:
        if fragment in squashed:
            return f"its name looks like personal data ({fragment!r})"
    return None


def dataset_specs(
    manifest: dict[str, Any], only: list[str] | None = None, profile: ProvinceProfile | None = None
) -> list[DatasetSpec]:
    """The datasets declared in ``manifest``, validated (optionally only the named ones), with
    the ``${province_*}`` placeholders of their texts filled from ``profile``."""
    specs: list[DatasetSpec] = []
    nodes: dict[str, dict[str, Any]] = manifest.get("nodes", {})
    for declared in sorted(manifest.get("exposures", {}).values(), key=lambda e: e["name"]):
        exposure = _rendered(declared, profile, f"exposure {declared['name']}")
        meta = _meta(exposure).get("ckan")
        if not meta:
            continue
        try:
            ckan = CkanMeta.model_validate(meta)
        except ValidationError as error:
            raise SpecError(f"exposure {exposure['name']}: invalid meta.ckan: {error}") from None
        if only and ckan.name not in only and exposure["name"] not in only:
            continue
        specs.append(_spec(exposure, ckan, nodes))
    names = [s.name for s in specs]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SpecError(f"several exposures publish the same dataset: {sorted(duplicates)}")
    if only:
        missing = set(only) - {s.name for s in specs} - {s.exposure for s in specs}
        if missing:
            raise SpecError(f"no exposure with meta.ckan named {sorted(missing)}")
    return specs


def _rendered(value: Any, profile: ProvinceProfile | None, origin: str) -> Any:
    if profile is None:
        return value
    if isinstance(value, str):
        return profile.render(value, origin)
    if isinstance(value, dict):
        return {key: _rendered(item, profile, origin) for key, item in value.items()}
    if isinstance(value, list):
        return [_rendered(item, profile, origin) for item in value]
    return value


def _spec(exposure: dict[str, Any], ckan: CkanMeta, nodes: dict[str, Any]) -> DatasetSpec:
    where = f"exposure {exposure['name']}"
    models = [
        nodes[uid]
        for uid in exposure.get("depends_on", {}).get("nodes", [])
        if uid in nodes and nodes[uid].get("resource_type") in ("model", "seed", "snapshot")
    ]
    if ckan.model:
        chosen = [m for m in models if m["name"] == ckan.model]
        if not chosen:
            raise SpecError(f"{where}: meta.ckan.model {ckan.model!r} is not in its depends_on")
        node = chosen[0]
    elif len(models) == 1:
        node = models[0]
    else:
        raise SpecError(f"{where}: depends on {len(models)} models; set meta.ckan.model")

    documented: dict[str, dict[str, Any]] = node.get("columns", {})
    unknown = [column for column in ckan.where if column not in documented]
    if unknown:
        raise SpecError(f"{where}: where: {unknown} are not columns of {node['name']}")
    columns: list[ColumnDoc] = []
    for name in ckan.columns:
        doc = documented.get(name)
        column_meta = _meta(doc) if doc else {}
        reason = personal_reason(name, column_meta)
        if reason:
            raise PersonalDataError(
                f"{where}: refusing to publish column {name!r} of {node['name']}: {reason}"
            )
        if not doc or not (doc.get("description") or "").strip():
            raise SpecError(
                f"{where}: column {name!r} is not documented in model {node['name']}'s YAML "
                "(every published column needs a description: it is the data dictionary)"
            )
        columns.append(
            ColumnDoc(
                name=name,
                description=" ".join(doc["description"].split()),
                label=str(column_meta.get("label") or name),
                unit=column_meta.get("unit"),
                data_type=doc.get("data_type"),
                description_vi=" ".join(str(column_meta.get("description_vi") or "").split())
                or None,
            )
        )
    # Refuse a model documented as personal too (e.g. a fact table of dossiers).
    model_meta = _meta(node)
    if model_meta.get("personal") is True or model_meta.get("contains_pii") is True:
        raise PersonalDataError(f"{where}: model {node['name']} is marked as personal data")

    owner = exposure.get("owner") or {}
    return DatasetSpec(
        exposure=exposure["name"],
        label=exposure.get("label") or exposure["name"],
        description=" ".join((exposure.get("description") or "").split()),
        owner=Owner(name=owner.get("name"), email=owner.get("email")),
        ckan=ckan,
        model=node["name"],
        schema=node["schema"],
        relation=node.get("alias") or node["name"],
        model_description=" ".join((node.get("description") or "").split()),
        columns=tuple(columns),
    )
