"""The Solr query subset of ckanext-localsearch (the local portal's search), evaluated without
CKAN: the module is plain Python, loaded from its file."""

from __future__ import annotations

import datetime as dt
import importlib.util
import sys
from types import ModuleType
from typing import Any

import pytest

from core.settings import REPO_ROOT

PATH = REPO_ROOT / "services/ckan/ckanext-localsearch/ckanext/localsearch/query.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("localsearch_query", PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


lq = _load()

NOW = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
DOCS: list[dict[str, Any]] = [
    {
        "id": "1",
        "name": "ty-le-ho-so-truc-tuyen",
        "title": "Tỷ lệ hồ sơ trực tuyến theo đơn vị",
        "notes": "Chỉ số 766.3.3",
        "tags": ["chi-so-766", "thu-tuc-hanh-chinh"],
        "organization": "ninh-binh",
        "res_format": ["CSV", "Parquet"],
        "state": "active",
        "capacity": "public",
        "site_id": "govdata",
        "entity_type": "package",
        "permission_labels": ["public"],
        "metadata_modified": NOW,
        "extras_theme": "government",
    },
    {
        "id": "2",
        "name": "van-ban-dien-tu",
        "title": "Văn bản điện tử gửi nhận",
        "notes": "Documents sent electronically",
        "tags": ["van-ban"],
        "organization": "ninh-binh",
        "res_format": ["CSV"],
        "state": "draft",
        "capacity": "private",
        "site_id": "govdata",
        "entity_type": "package",
        "permission_labels": ["member-abc"],
        "metadata_modified": "2020-01-01T00:00:00Z",
    },
]


def matches(query: str) -> list[str]:
    evaluator = lq.Evaluator()
    node = lq.parse(query)
    out = []
    for fields in DOCS:
        doc = lq.Document({**fields, "_text": lq.catch_all_text(fields)})
        if evaluator.score(node, doc) is not None:
            out.append(fields["id"])
    return out


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("*:*", ["1", "2"]),
        ("", ["1", "2"]),
        ('+site_id:"govdata" +state:active', ["1"]),
        ("+capacity:public +state:(active OR draft)", ["1"]),
        ("state:(active OR draft)", ["1", "2"]),
        ('name:"van-ban-dien-tu" OR id:"van-ban-dien-tu"', ["2"]),
        ('+entity_type:package AND +(id:"1" OR name:"1") AND +site_id:"govdata"', ["1"]),
        ('+permission_labels:("public" OR "member-xyz")', ["1"]),
        ("-tags:van-ban", ["1"]),
        ("NOT tags:van-ban", ["1"]),
        ('tags:"chi-so-766" res_format:"Parquet"', ["1"]),
        ('tags:"chi-so-766" OR tags:"van-ban"', ["1", "2"]),
        ("ho so truc tuyen", ["1"]),  # accent-insensitive free text
        ("hồ sơ", ["1"]),
        ('"hồ sơ trực tuyến"', ["1"]),
        ('"truc tuyen ho so"', []),  # a phrase keeps its order
        ("electronically", ["2"]),
        ("766.3.3", ["1"]),
        ("ninh-binh", ["1", "2"]),
        ("van ban", ["2"]),
        ("dien", ["2"]),  # prefix stands in for stemming
        ("name:ty-le*", ["1"]),
        ("title_ngram:dien tu", ["2"]),
        ("extras_theme:government", ["1"]),
        ("metadata_modified:[NOW-1DAY TO *]", ["1"]),
        ("metadata_modified:[* TO 2021-01-01T00:00:00Z]", ["2"]),
        ("organization:ninh-binh -capacity:private", ["1"]),
        ("nothing-like-this", []),
    ],
)
def test_query_subset(query: str, expected: list[str]) -> None:
    assert matches(query) == expected


@pytest.mark.parametrize("query", ['tags:"unclosed', "(a OR b", "a OR b)", "{!lucene}x"])
def test_syntax_errors(query: str) -> None:
    with pytest.raises(lq.QuerySyntaxError):
        lq.parse(query)


def test_sort_and_facets() -> None:
    docs = [lq.Document(d) for d in DOCS]
    ordered = lq.sort_documents([(d, 1.0) for d in docs], lq.parse_sort("title_string asc"))
    assert [d.fields["id"] for d, _ in ordered] == ["1", "2"]  # missing values last
    ordered = lq.sort_documents([(d, 1.0) for d in docs], lq.parse_sort("name desc"))
    assert [d.fields["id"] for d, _ in ordered] == ["2", "1"]
    ordered = lq.sort_documents(
        [(d, 1.0) for d in docs], lq.parse_sort("score desc, metadata_modified desc")
    )
    assert [d.fields["id"] for d, _ in ordered] == ["1", "2"]
    with pytest.raises(lq.QuerySyntaxError):
        lq.parse_sort("title sideways")
    facets = lq.facet_counts(docs, ["res_format", "organization"], limit=-1, mincount=1)
    assert facets == {"res_format": ["CSV", 2, "Parquet", 1], "organization": ["ninh-binh", 2]}
    assert lq.facet_counts(docs, ["res_format"], limit=1, mincount=1) == {"res_format": ["CSV", 2]}


def test_fold() -> None:
    assert lq.fold("Tỷ lệ Hồ sơ ĐÚNG hạn") == "ty le ho so dung han"
