"""The Solr connection stand-in: pysolr's ``add``/``delete``/``search``/``commit`` over PostgreSQL.

Documents live in one table of CKAN's own database, ``localsearch_document``, keyed like
Solr's ``uniqueKey`` (``index_id``). The searchable fields are a JSONB column; the two large
stored-only fields CKAN reads back (``data_dict`` and ``validated_data_dict``) sit in a second
column fetched only for the page of results returned. Queries are parsed and evaluated in
Python (:mod:`ckanext.localsearch.query`) over the site's documents: exact, simple, and fast
enough for a local portal of a few thousand datasets.

Writes use their own connection and commit at once, as Solr does: the index is not part of
CKAN's transaction, so CKAN's own ``search-index rebuild`` repairs it exactly as with Solr.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import UTC, datetime
from typing import Any

import pysolr
import sqlalchemy as sa
from ckanext.localsearch import query as lq

log = logging.getLogger(__name__)

TABLE = "localsearch_document"
#: Stored-only fields, returned when asked for but never searched.
PAYLOAD_FIELDS = ("data_dict", "validated_data_dict")

_DDL = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        index_id    text PRIMARY KEY,
        site_id     text,
        entity_type text,
        id          text,
        name        text,
        fields      jsonb NOT NULL,
        payload     jsonb NOT NULL DEFAULT '{{}}'::jsonb,
        indexed_at  timestamptz NOT NULL DEFAULT now()
    )""",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_site_idx ON {TABLE} (site_id)",
)

_engines: dict[str, sa.engine.Engine] = {}
_ready: set[str] = set()
_lock = threading.Lock()


def _engine(url: str) -> sa.engine.Engine:
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=4)
            _engines[url] = engine
        if url not in _ready:
            with engine.begin() as conn:
                # Serialise concurrent first starts (web server and CLI) on the DDL.
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:t))"), {"t": TABLE})
                for statement in _DDL:
                    conn.execute(sa.text(statement))
            _ready.add(url)
        return engine


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | tuple):
        return list(value)
    return str(value)


class PostgresSolr:
    """Implements the part of :class:`pysolr.Solr` that ``ckan.lib.search`` uses."""

    def __init__(self, db_url: str, facet_limit: int = 50) -> None:
        self.db_url = db_url
        self.url = f"localsearch:{re.sub(r'//[^@/]*@', '//', db_url)}"  # for CKAN's messages
        self.facet_limit = facet_limit

    # -- writes -------------------------------------------------------------------------------

    def add(self, docs: list[dict[str, Any]], commit: bool | None = None, **_: Any) -> str:
        rows = []
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for doc in docs:
            doc = dict(doc)
            if "index_id" not in doc:
                raise pysolr.SolrError("Document is missing mandatory uniqueKey field: index_id")
            doc.setdefault("indexed_ts", now)
            payload = {k: doc.pop(k) for k in PAYLOAD_FIELDS if k in doc}
            doc["_text"] = lq.catch_all_text(doc)
            rows.append(
                {
                    "index_id": str(doc["index_id"]),
                    "site_id": doc.get("site_id"),
                    "entity_type": doc.get("entity_type"),
                    "id": doc.get("id"),
                    "name": doc.get("name"),
                    "fields": json.dumps(doc, default=_json_default),
                    "payload": json.dumps(payload, default=_json_default),
                }
            )
        if not rows:
            return ""
        statement = sa.text(
            f"""INSERT INTO {TABLE} (index_id, site_id, entity_type, id, name, fields, payload)
                VALUES (:index_id, :site_id, :entity_type, :id, :name,
                        CAST(:fields AS jsonb), CAST(:payload AS jsonb))
                ON CONFLICT (index_id) DO UPDATE SET
                    site_id = EXCLUDED.site_id, entity_type = EXCLUDED.entity_type,
                    id = EXCLUDED.id, name = EXCLUDED.name, fields = EXCLUDED.fields,
                    payload = EXCLUDED.payload, indexed_at = now()"""
        )
        with _engine(self.db_url).begin() as conn:
            conn.execute(statement, rows)
        return ""

    def delete(self, id: str | list[str] | None = None, q: str | None = None, **_: Any) -> str:
        if id is None and q is None:
            raise ValueError('You must specify "id" or "q".')
        if id is not None and q is not None:
            raise ValueError('You many only specify "id" OR "q", not both.')
        if id is not None:
            ids = [id] if isinstance(id, str) else list(id)
        else:
            node = self._parse(q or "")
            evaluator = lq.Evaluator()
            ids = [
                index_id
                for index_id, doc in self._documents(site_id=None)
                if evaluator.score(node, doc) is not None
            ]
        if ids:
            with _engine(self.db_url).begin() as conn:
                conn.execute(
                    sa.text(f"DELETE FROM {TABLE} WHERE index_id = ANY(:ids)"), {"ids": ids}
                )
        return ""

    def commit(self, **_: Any) -> str:
        return ""  # every write is already committed

    def optimize(self, **_: Any) -> str:
        return ""

    def ping(self, **_: Any) -> str:
        with _engine(self.db_url).connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return '{"status": "OK"}'

    # -- reads --------------------------------------------------------------------------------

    def search(self, q: str = "*:*", **params: Any) -> pysolr.Results:
        fqs = params.get("fq") or []
        fqs = [fqs] if isinstance(fqs, str) else list(fqs)
        default_and = str(params.get("q.op", "AND")).upper() != "OR"
        q_node = self._parse(q or "*:*", default_and)
        fq_nodes = [self._parse(fq) for fq in fqs if fq and fq.strip()]
        query_fields = _parse_qf(params.get("qf"))
        evaluator = lq.Evaluator(query_fields)

        matched: list[tuple[lq.Document, float]] = []
        index_ids: dict[int, str] = {}
        for index_id, doc in self._documents(site_id=_site_filter(fqs)):
            if any(evaluator.score(node, doc) is None for node in fq_nodes):
                continue
            score = evaluator.score(q_node, doc)
            if score is None:
                continue
            matched.append((doc, score))
            index_ids[id(doc)] = index_id

        try:
            sort_keys = lq.parse_sort(params.get("sort"))
        except lq.QuerySyntaxError as error:
            raise pysolr.SolrError(str(error)) from None
        if not sort_keys:
            sort_keys = [("score", True)]
        matched = lq.sort_documents(matched, sort_keys)

        start = max(int(params.get("start") or 0), 0)
        rows = params.get("rows")
        rows = 10 if rows is None else max(int(rows), 0)
        page = matched[start : start + rows]

        fields = list(lq.iter_field_list(params.get("fl")))
        payloads = self._payloads([index_ids[id(doc)] for doc, _ in page], fields)
        docs = [
            _project(doc, score, fields, payloads.get(index_ids[id(doc)], {}))
            for doc, score in page
        ]

        decoded: dict[str, Any] = {
            "responseHeader": {"status": 0, "QTime": 0},
            "response": {"numFound": len(matched), "start": start, "docs": docs},
        }
        if str(params.get("facet", "false")).lower() == "true":
            facet_fields = params.get("facet.field") or []
            if isinstance(facet_fields, str):
                facet_fields = (
                    json.loads(facet_fields) if facet_fields.startswith("[") else [facet_fields]
                )
            limit = int(params.get("facet.limit") or self.facet_limit)
            mincount = int(params.get("facet.mincount") or 0)
            decoded["facet_counts"] = {
                "facet_queries": {},
                "facet_fields": lq.facet_counts(
                    (doc for doc, _ in matched), list(facet_fields), limit, mincount
                ),
            }
        return pysolr.Results(decoded)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _parse(query: str, default_and: bool = True) -> lq.Node:
        try:
            return lq.parse(query, default_and)
        except lq.QuerySyntaxError as error:
            raise pysolr.SolrError(
                f"org.apache.solr.search.SyntaxError: {error} (query: {query!r})"
            ) from None

    def _documents(self, site_id: str | None) -> list[tuple[str, lq.Document]]:
        sql = f"SELECT index_id, fields FROM {TABLE}"
        args: dict[str, Any] = {}
        if site_id is not None:
            sql += " WHERE site_id = :site_id"
            args["site_id"] = site_id
        with _engine(self.db_url).connect() as conn:
            rows = conn.execute(sa.text(sql + " ORDER BY index_id"), args).all()
        return [(row[0], lq.Document(row[1])) for row in rows]

    def _payloads(self, index_ids: list[str], fields: list[str]) -> dict[str, dict[str, Any]]:
        if not index_ids or not any(f in ("*", *PAYLOAD_FIELDS) for f in fields):
            return {}
        with _engine(self.db_url).connect() as conn:
            rows = conn.execute(
                sa.text(f"SELECT index_id, payload FROM {TABLE} WHERE index_id = ANY(:ids)"),
                {"ids": index_ids},
            ).all()
        return {row[0]: row[1] for row in rows}


def _site_filter(fqs: list[str]) -> str | None:
    """Push the ``+site_id:"x"`` filter CKAN always adds down into SQL."""
    for fq in fqs:
        match = re.fullmatch(r'\s*\+?site_id:"?([^"\s()]+)"?\s*', fq)
        if match:
            return match.group(1)
    return None


def _parse_qf(qf: Any) -> dict[str, float] | None:
    if not qf or not isinstance(qf, str):
        return None
    fields: dict[str, float] = {}
    for part in qf.split():
        name, _, boost = part.partition("^")
        try:
            fields[name] = float(boost) if boost else 1.0
        except ValueError:
            fields[name] = 1.0
    return fields or None


def _project(
    doc: lq.Document, score: float, fields: list[str], payload: dict[str, Any]
) -> dict[str, Any]:
    stored = {k: v for k, v in doc.fields.items() if not k.startswith("_")}
    stored.update(payload)
    if "*" in fields:
        out = dict(stored)
    else:
        out = {name: stored[name] for name in fields if name in stored}
    if "score" in fields:
        out["score"] = score
    return out
