"""The document system's three sources, the files of a daily batch, and the raw tables they
load (history + ``<table>__latest`` view, see :mod:`ingestion.loader`)."""

from __future__ import annotations

import pyarrow as pa

from core.warehouse import Warehouse
from ingestion import ledger
from ingestion.loader import RawTable

REGISTER_SOURCE = "documents.register"
MESSAGES_SOURCE = "documents.messages"
STATUS_SOURCE = "documents.status"
SOURCES = (REGISTER_SOURCE, MESSAGES_SOURCE, STATUS_SOURCE)
FILES = {
    REGISTER_SOURCE: "register.csv.gz",
    MESSAGES_SOURCE: "documents.edxml.lines.gz",
    STATUS_SOURCE: "status.edxml.lines.gz",
}
BATCH_PREFIX = "date="


_DATE, _STAMP = pa.date32(), pa.timestamp("us")
REGISTER_TABLE = RawTable(
    "raw.documents__register",
    pa.schema(
        [
            ("document_id", pa.string()),
            ("code_number", pa.string()),
            ("code_notation", pa.string()),
            ("sender_code", pa.string()),
            ("receiver_codes", pa.string()),
            ("receiver_count", pa.int64()),
            ("type_code", pa.int64()),
            ("type_name", pa.string()),
            ("promulgation_date", _DATE),
            ("sent_at", _STAMP),
            ("priority", pa.int64()),
            ("page_amount", pa.int64()),
            ("is_electronic", pa.bool_()),
            ("is_signed", pa.bool_()),
            ("is_secret", pa.bool_()),
            ("batch_date", _DATE),
        ]
    ),
    natural_key=("document_id",),
    updated="sent_at",
)
MESSAGES_TABLE = RawTable(
    "raw.documents__messages",
    pa.schema(
        [
            ("document_id", pa.string()),
            ("sender_code", pa.string()),
            ("code_number", pa.string()),
            ("code_notation", pa.string()),
            ("promulgation_date", _DATE),
            ("type_code", pa.int64()),
            ("type_name", pa.string()),
            ("subject", pa.string()),
            ("priority", pa.int64()),
            ("page_amount", pa.int64()),
            ("due_date", _DATE),
            ("sent_at", _STAMP),
            ("receiver_count", pa.int64()),
            ("is_signed", pa.bool_()),
            ("attachment_count", pa.int64()),
            ("signer_key", pa.string()),
            ("batch_date", _DATE),
        ]
    ),
    natural_key=("document_id",),
    updated="sent_at",
)
RECEIVERS_TABLE = RawTable(
    "raw.documents__receivers",
    pa.schema(
        [
            ("document_id", pa.string()),
            ("receiver_code", pa.string()),
            ("position", pa.int64()),
            ("sent_at", _STAMP),
            ("batch_date", _DATE),
        ]
    ),
    natural_key=("document_id", "receiver_code"),
    updated="sent_at",
)
STATUS_TABLE = RawTable(
    "raw.documents__status",
    pa.schema(
        [
            ("document_id", pa.string()),
            ("sender_code", pa.string()),
            ("promulgation_date", _DATE),
            ("receiver_code", pa.string()),
            ("status_code", pa.string()),
            ("description", pa.string()),
            ("status_at", _STAMP),
            ("handler_key", pa.string()),
            ("batch_date", _DATE),
        ]
    ),
    natural_key=("document_id", "receiver_code", "status_code"),
    updated="status_at",
)
RAW_TABLES = (REGISTER_TABLE, MESSAGES_TABLE, RECEIVERS_TABLE, STATUS_TABLE)


def ensure_tables(warehouse: Warehouse) -> None:
    ledger.ensure_ops_schema(warehouse)
    for table in RAW_TABLES:
        table.ensure(warehouse)
    if warehouse.dialect == "postgres":  # the loader looks versions up by key: index them
        for table in RAW_TABLES:
            name = table.name.split(".")[1]
            columns = ", ".join(f'"{c}"' for c in table.key)
            warehouse.execute(f"create index if not exists {name}__key on {table.name} ({columns})")
        warehouse.execute(
            f"create index if not exists documents__status__at on {STATUS_TABLE.name} (status_at)"
        )
