"""ckanext-localsearch: run CKAN's search on PostgreSQL instead of Solr, for the local portal.

CKAN writes every dataset to its Solr index before committing it, and reads the dataset
lists of the home page, ``/dataset``, organization pages and the ``package_search`` action
back from Solr. The ``ckan.lib.search`` modules obtain their Solr client from
``ckan.lib.search.common.make_connection``. When this plugin loads (``IConfigurer``, which
CKAN runs before its start-up Solr schema check), it replaces that function, in every module
that imported it, with one returning :class:`~ckanext.localsearch.backend.PostgresSolr`: a
small object with pysolr's ``add``/``delete``/``search``/``commit`` methods that stores the
documents in a table of CKAN's own PostgreSQL database and evaluates the Solr query subset
CKAN and its web UI use (q, fq, rows, start, sort, fl, facet.field) in Python. So indexing,
deletion, ``search-index rebuild``, ``package_search``, faceted dataset lists and
``package_show``'s index cache all work without a Solr server.

This is for the platform's single-node local/demo portal (no Docker, no JVM). A production
open-data portal keeps Solr: drop ``localsearch`` from ``ckan.plugins`` and set ``solr_url``;
nothing else changes, since the documents are the ones CKAN would send to Solr.

Settings (ckan.ini):

``ckanext.localsearch.sqlalchemy_url``
    Database holding the index table (default: ``sqlalchemy.url``).
"""

from __future__ import annotations

import logging
from typing import Any

import ckan.plugins as p

log = logging.getLogger(__name__)

_PATCHED_MODULES = (
    "ckan.lib.search.common",
    "ckan.lib.search.index",
    "ckan.lib.search.query",
    "ckan.lib.search",
)


def make_connection(decode_dates: bool = True) -> Any:
    """Drop-in for :func:`ckan.lib.search.common.make_connection`."""
    from ckan.common import config
    from ckanext.localsearch.backend import PostgresSolr

    url = config.get("ckanext.localsearch.sqlalchemy_url") or config.get("sqlalchemy.url")
    return PostgresSolr(url, facet_limit=int(config.get("search.facets.limit") or 50))


def check_solr_schema_version(schema_file: str | None = None) -> bool:
    """No Solr schema to check: the stand-in accepts the documents of this CKAN version."""
    return True


def install() -> None:
    """Point ``ckan.lib.search`` at the PostgreSQL stand-in (idempotent)."""
    import importlib

    for name in _PATCHED_MODULES:
        module = importlib.import_module(name)
        module.make_connection = make_connection  # type: ignore[attr-defined]
    search = importlib.import_module("ckan.lib.search")
    search.check_solr_schema_version = check_solr_schema_version  # type: ignore[attr-defined]


class LocalSearchPlugin(p.SingletonPlugin):
    p.implements(p.IConfigurer)
    p.implements(p.IConfigDeclaration)

    def declare_config_options(self, declaration: Any, key: Any) -> None:
        declaration.annotate("ckanext-localsearch")
        declaration.declare(key.ckanext.localsearch.sqlalchemy_url).set_description(
            "Database holding the search index table (default: sqlalchemy.url)."
        )

    def update_config(self, config: Any) -> None:
        install()
        log.info("localsearch: search index kept in PostgreSQL (no Solr)")
