"""Connector for the administrative-procedure system (national portal sync format).

Reference data (snapshots, replaced each run, :mod:`~ingestion.procedures.reference`): the
agency directory and the procedure catalogue. Two feeds (:mod:`~ingestion.procedures.feeds`),
read one of two ways (``GOVDATA_PROCEDURES_TRANSPORT``):

- **api**: the sync API's dossier versions pushed to the national portal (``/api/dossiers``,
  by ``NgayCapNhat``) and progress events (``/api/events``, by ``ThoiDiemXuLy``), page by page
  from the feed's watermark (sources ``procedures.dossiers`` and ``procedures.events``;
  :mod:`~ingestion.procedures.api`);
- **files**: the same payloads exported as JSON lines (``dossiers*.jsonl[.gz]``,
  ``events*.jsonl[.gz]``, or ``*.json`` arrays) in ``GOVDATA_PROCEDURES_EXPORT_DIR``, read in
  blocks of whole lines (sources ``procedures.dossier_exports`` and
  ``procedures.event_exports``; the watermark is each file's loaded bytes, see
  :class:`ingestion.lines.FileProgress`; :mod:`~ingestion.procedures.exports`).

Either way a page or block is landed as read, parsed in one DuckDB pass
(:func:`ingestion.lines.parse_objects`), validated against its contract with polars (code
lists from the system's own catalogue and agency directory; :mod:`~ingestion.procedures.checks`,
:mod:`~ingestion.procedures.contracts`), stripped of personal data (the applicant and the staff
become keyed hashes) and loaded with its rejections, counts and watermark in one transaction,
so a run killed midway resumes where it stopped and loses nothing. Both transports load the
same raw tables with the same rows. Reading and landing, checking (two at a time), and loading
run side by side on consecutive pages or blocks (:mod:`~ingestion.procedures.stages`); the
commits stay in order.
"""

from __future__ import annotations

from ingestion.procedures.api import ProceduresApi
from ingestion.procedures.checks import check_dossiers, check_events
from ingestion.procedures.contracts import (
    AGENCIES_SOURCE,
    AGENCIES_TABLE,
    AGENCY_CONTRACT,
    CATALOGUE_CONTRACT,
    CATALOGUE_SOURCE,
    CATALOGUE_TABLE,
    DOSSIER_CONTRACT,
    DOSSIERS_TABLE,
    EVENT_CONTRACT,
    EVENTS_EXPORT_SOURCE,
    EVENTS_SOURCE,
    EVENTS_TABLE,
    EXPORT_SOURCE,
    PERSONAL_FIELDS,
    RAW_TABLE,
    SOURCE,
    CodeLists,
)
from ingestion.procedures.exports import export_files
from ingestion.procedures.feeds import (
    ingest_dossier_exports,
    ingest_dossiers,
    ingest_event_exports,
    ingest_events,
)
from ingestion.procedures.reference import (
    ingest_agencies,
    ingest_catalogue,
    ingest_reference_exports,
)

__all__ = [
    "AGENCIES_SOURCE",
    "AGENCIES_TABLE",
    "AGENCY_CONTRACT",
    "CATALOGUE_CONTRACT",
    "CATALOGUE_SOURCE",
    "CATALOGUE_TABLE",
    "DOSSIERS_TABLE",
    "DOSSIER_CONTRACT",
    "EVENTS_EXPORT_SOURCE",
    "EVENTS_SOURCE",
    "EVENTS_TABLE",
    "EVENT_CONTRACT",
    "EXPORT_SOURCE",
    "PERSONAL_FIELDS",
    "RAW_TABLE",
    "SOURCE",
    "CodeLists",
    "ProceduresApi",
    "check_dossiers",
    "check_events",
    "export_files",
    "ingest_agencies",
    "ingest_catalogue",
    "ingest_dossier_exports",
    "ingest_dossiers",
    "ingest_event_exports",
    "ingest_events",
    "ingest_reference_exports",
]
