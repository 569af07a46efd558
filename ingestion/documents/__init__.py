"""Connector for the document management system: edXML documents, their statuses, the register.

The system drops one batch per calendar day (see :mod:`simulator.documents` for the layout)::

    <documents_export_dir>/date=YYYY-MM-DD/register.csv.gz      every outgoing document
    <documents_export_dir>/date=YYYY-MM-DD/documents.edxml.zip  edXML documents sent, a file
                                                                (.edxml) per message
    <documents_export_dir>/date=YYYY-MM-DD/status.edxml.zip     edXML status messages, the same
    <documents_export_dir>/../reference/agencies.csv            the agency directory

The messages follow QCVN 102:2016/BTTTT edXML (amended 2022). A day's messages may also be a
folder of ``.edxml`` files (``documents/``, ``status/``) or, the older line-packed form, one
message per line in a gzip (``documents.edxml.lines.gz``, ``status.edxml.lines.gz``); the
connector reads whichever it finds (:mod:`~ingestion.documents.packages`). A message is one
record however it is laid out (pretty-printed, any namespace prefix, large attachments).

Three sources, each with its own watermark (the last daily batch fully loaded) and its own row
in ``ops.ingest_runs`` per run: ``documents.register``, ``documents.messages`` and
``documents.status``. A run loads the batches after the watermark in date order, **one
transaction per day** (rows, rejected records, run counts and watermarks of the three sources),
so a run killed midway resumes at the next day and loses or duplicates nothing; re-running the
same window changes nothing (every record found again counts as a duplicate).

Raw tables (history + ``<table>__latest`` view, see :mod:`ingestion.loader`):

``raw.documents__register``  one row per register row; key ``document_id``, update ``sent_at``.
``raw.documents__messages``  one row per edXML document; key ``document_id``, update ``sent_at``.
``raw.documents__receivers`` the ``To`` agencies of each document (a document has one or
                             more), in message order; key ``document_id`` + ``receiver_code``,
                             update ``sent_at``. Kept as a table of its own rather than a JSON
                             array, so that staging joins it the same way on DuckDB and PostgreSQL.
``raw.documents__status``    one row per status message; key ``document_id`` +
                             ``receiver_code`` + ``status_code``, update ``status_at``.

Personal data never reaches them: the signer's ``FullName`` and the ``Staff`` account of a
status become keyed hashes (``signer_key``, ``handler_key``, :func:`ingestion.ledger.keyed_hash`);
staff departments, agency e-mails and phones are dropped. The landing zone keeps the lines as
read (personal data included, pruned after the retention).

**Parsing, fast and safe.** A province-year of XML is far too much for an XML parser on two
cores, so each message (its blanks between tags removed) is checked against a strict grammar
of the canonical message first and its fields read with vectorised string functions
(:mod:`~ingestion.documents.grammar`, :mod:`~ingestion.documents.fastpath`); the messages it
does not accept go as they came to a real XML parser, hardened (lxml: a DTD refused, entities
never expanded, nothing fetched; :mod:`~ingestion.documents.slowpath`), the arbiter. A record
over the size limit (``max_message_bytes`` for a document with its attachments,
``max_record_bytes`` otherwise) is rejected unparsed. Then the contracts
(:mod:`~ingestion.documents.contracts`), agency codes in force on the record's date
(:mod:`~ingestion.documents.agencies`) and the order of a receiver's statuses
(:mod:`~ingestion.documents.loading`). Every rejected record goes to ``ops.rejected_records``
with its reason, the original line and a record key.

The modules, in the order a day goes through them: :mod:`~ingestion.documents.tables`
(sources, files, raw tables), :mod:`~ingestion.documents.reading` (a day's files read, landed
and checked, :mod:`~ingestion.documents.checking` and :mod:`~ingestion.documents.register`),
:mod:`~ingestion.documents.loading` (a checked day loaded) and :mod:`~ingestion.documents.run`
(the days of a run, read ahead in worker threads).
"""

from __future__ import annotations

from ingestion.documents.agencies import AGENCIES_FILE, AgencyDirectory, agencies_path
from ingestion.documents.contracts import (
    MESSAGE_CONTRACT,
    PERSONAL_FIELDS,
    REGISTER_CONTRACT,
    STATUS_CODES,
    STATUS_CONTRACT,
)
from ingestion.documents.run import ingest_documents
from ingestion.documents.tables import (
    FILES,
    MESSAGES_SOURCE,
    MESSAGES_TABLE,
    RAW_TABLES,
    RECEIVERS_TABLE,
    REGISTER_SOURCE,
    REGISTER_TABLE,
    SOURCES,
    STATUS_SOURCE,
    STATUS_TABLE,
    ensure_tables,
)

__all__ = [
    "AGENCIES_FILE",
    "FILES",
    "MESSAGES_SOURCE",
    "MESSAGES_TABLE",
    "MESSAGE_CONTRACT",
    "PERSONAL_FIELDS",
    "RAW_TABLES",
    "RECEIVERS_TABLE",
    "REGISTER_CONTRACT",
    "REGISTER_SOURCE",
    "REGISTER_TABLE",
    "SOURCES",
    "STATUS_CODES",
    "STATUS_CONTRACT",
    "STATUS_SOURCE",
    "STATUS_TABLE",
    "AgencyDirectory",
    "agencies_path",
    "ensure_tables",
    "ingest_documents",
]
