"""The dbt project's folders are its build order, and every model is documented beside itself.

Layers, first to last: ``staging`` (sources renamed and typed), ``intermediate`` (what only
needs staging), ``marts/core`` (conformed dimensions and facts, with the steps they are made
of), ``marts/kpi`` (the indicators, built on the core marts) and ``marts/national`` (the
provinces side by side: the ranking, the country against its targets). A model refs only models of
its own layer or of a layer before it; only staging reads sources.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from transform.dbt import DBT_PROJECT_DIR

MODELS = DBT_PROJECT_DIR / "models"
LAYERS = ("staging", "intermediate", "marts/core", "marts/kpi", "marts/national")
REF = re.compile(r"""\{\{\s*ref\(\s*['"]([A-Za-z0-9_]+)['"]\s*\)\s*\}\}""")
SOURCE = re.compile(r"""\{\{\s*source\(""")


def layer_of(path: Path) -> str:
    relative = path.relative_to(MODELS).as_posix()
    for layer in sorted(LAYERS, key=len, reverse=True):
        if relative.startswith(layer + "/"):
            return layer
    raise AssertionError(f"{relative} is in no layer of {LAYERS}")


def models() -> dict[str, Path]:
    return {path.stem: path for path in sorted(MODELS.rglob("*.sql"))}


def seeds() -> set[str]:
    return {path.stem for path in (DBT_PROJECT_DIR / "seeds").rglob("*.csv")}


def refs(path: Path) -> set[str]:
    return set(REF.findall(path.read_text(encoding="utf-8")))


def test_every_model_is_in_a_layer() -> None:
    assert models(), "no model found"
    assert {layer_of(path) for path in models().values()} == set(LAYERS)


@pytest.mark.parametrize("name", sorted(models()))
def test_a_model_refs_only_its_own_layer_or_an_earlier_one(name: str) -> None:
    path, known = models()[name], models()
    own = LAYERS.index(layer_of(path))
    for ref in refs(path):
        assert ref in known or ref in seeds(), f"{name} refs {ref}, neither a model nor a seed"
        if ref in known:
            theirs = layer_of(known[ref])
            assert LAYERS.index(theirs) <= own, (
                f"{name} ({layer_of(path)}) refs {ref} of the later layer {theirs}"
            )
    if SOURCE.search(path.read_text(encoding="utf-8")):
        assert layer_of(path) == "staging", f"{name} reads a source outside staging"


def test_no_intermediate_model_refs_a_mart() -> None:
    marts = {name for name, path in models().items() if layer_of(path).startswith("marts/")}
    offenders = {
        name: sorted(refs(path) & marts)
        for name, path in models().items()
        if layer_of(path) == "intermediate" and refs(path) & marts
    }
    assert not offenders


def test_the_layer_check_catches_a_back_edge(tmp_path: Path) -> None:
    """The regular expression sees the refs as dbt writes them (a check that cannot miss)."""
    sample = tmp_path / "x.sql"
    sample.write_text("select * from {{ ref('fct_dossier') }} join {{ref(\"dim_date\")}}")
    assert refs(sample) == {"fct_dossier", "dim_date"}


@pytest.mark.parametrize("name", sorted(models()))
def test_every_model_has_a_yml_beside_it_describing_every_column(name: str) -> None:
    path = models()[name]
    documentation = path.with_suffix(".yml")
    assert documentation.exists(), f"{name} has no {documentation.name} beside it"
    described = yaml.safe_load(documentation.read_text(encoding="utf-8"))
    entries = [m for m in described.get("models", []) if m["name"] == name]
    assert entries, f"{documentation.name} does not describe {name}"
    (entry,) = entries
    assert entry.get("description", "").strip(), f"{name} has no description"
    columns = entry.get("columns") or []
    assert columns, f"{name} lists no column"
    undescribed = [c["name"] for c in columns if not str(c.get("description", "")).strip()]
    assert not undescribed, f"{name}: columns without a description: {undescribed}"
