"""What a document record must satisfy: QCVN 102 codes and stages, field contracts and the
checks beyond a field's own.

Required fields; dates that must parse and exist; status codes in the QCVN 102 list; page
counts up to :data:`MAX_PAGES`. Agency codes are checked against the directory by
:mod:`ingestion.documents.agencies`, the order of a receiver's statuses at load time by
:mod:`ingestion.documents.loading`.
"""

from __future__ import annotations

import polars as pl

from ingestion.contract import Contract, Field
from ingestion.documents.tables import MESSAGES_SOURCE, REGISTER_SOURCE, STATUS_SOURCE

# QCVN 102:2016 (amended 2022) status codes, and the order of the processing stages: a status
# may not be timestamped before a lower stage of the same receiver for the same document.
STATUS_CODES = {
    "01": "arrived",
    "02": "rejected",
    "03": "accepted",
    "04": "assigned",
    "05": "in process",
    "06": "completed",
    "13": "recall requested",
    "15": "recall accepted",
    "16": "recall refused",
}
STAGE = {"01": 1, "02": 2, "03": 2, "04": 3, "05": 4, "06": 5}  # recall codes have no stage
MAX_PAGES = 10_000  # no official document has ten thousand pages
PRIORITIES = ("0", "1", "2", "3")  # normal, Khẩn, Thượng khẩn, Hỏa tốc
DATE_FORMAT, STAMP_FORMAT = "%Y/%m/%d", "%Y/%m/%d %H:%M:%S"
DATE_FIELD = {"pattern": r"^\d{4}/\d{2}/\d{2}$", "timestamp_format": DATE_FORMAT}
STAMP_FIELD = {
    "pattern": r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}$",
    "timestamp_format": STAMP_FORMAT,
}
DIGITS = r"^\d{1,18}$"


REGISTER_CONTRACT = Contract(
    source=REGISTER_SOURCE,
    fields=(
        Field("document_id", required=True, description="DocumentId (SDK form)"),
        Field("code_number", required=True, pattern=DIGITS),
        Field("code_notation"),
        Field("sender_code", required=True, description="Sending agency (MaDinhDanh)"),
        Field("receiver_codes", required=True, description="Receiving agencies, ;-separated"),
        Field("receiver_count", pattern=DIGITS),
        Field("type_code", pattern=DIGITS),
        Field("type_name"),
        Field("promulgation_date", required=True, **DATE_FIELD),
        Field("sent_at", required=True, **STAMP_FIELD),
        Field("priority", allowed=PRIORITIES),
        Field("page_amount", pattern=DIGITS),
        Field("is_electronic", required=True, allowed=("0", "1")),
        Field("is_signed", required=True, allowed=("0", "1")),
        Field("is_secret", required=True, allowed=("0", "1")),
    ),
)
MESSAGE_CONTRACT = Contract(
    source=MESSAGES_SOURCE,
    fields=(
        Field("document_id", required=True, description="MessageHeader/DocumentId"),
        Field("sender_code", required=True, description="MessageHeader/From/OrganId"),
        Field("code_number", required=True, pattern=DIGITS),
        Field("code_notation"),
        Field("promulgation_date", required=True, **DATE_FIELD),
        Field("type_code", pattern=DIGITS),
        Field("type_name"),
        Field("subject"),
        Field("priority", allowed=PRIORITIES),
        Field("page_amount", pattern=DIGITS),
        Field("due_date", **DATE_FIELD),
        Field("sent_at", required=True, **STAMP_FIELD, description="TraceHeader/Timestamp"),
        Field("signer_name", personal=True, description="SignerInfo/FullName"),
    ),
)
STATUS_CONTRACT = Contract(
    source=STATUS_SOURCE,
    fields=(
        Field("document_id", required=True, description="ResponseFor/DocumentId"),
        Field("sender_code", description="ResponseFor/OrganId"),
        Field("promulgation_date", **DATE_FIELD, description="ResponseFor/PromulgationDate"),
        Field("receiver_code", required=True, description="From/OrganId (the receiver)"),
        Field("status_code", required=True, allowed=tuple(STATUS_CODES)),
        Field("description"),
        Field("status_at", required=True, **STAMP_FIELD, description="Timestamp"),
        Field("staff", personal=True, description="StaffInfo/Staff"),
    ),
)
PERSONAL_FIELDS = (*MESSAGE_CONTRACT.personal_fields, *STATUS_CONTRACT.personal_fields)
# Checks beyond the fields' own, as (condition flagging a bad row, reason).
ABSURD_PAGES = (
    pl.col("page_amount").cast(pl.Int64, strict=False) > MAX_PAGES,
    f"page_amount: above {MAX_PAGES:,} pages (absurd value)",
)
MESSAGE_CHECKS = [
    (pl.col("receivers").list.len() == 0, "missing required field To (no receiver)"),
    (
        pl.col("receivers").list.eval(pl.element().is_null() | (pl.element() == "")).list.any(),
        "missing required field To/OrganId",
    ),
    ABSURD_PAGES,
]
REGISTER_CHECKS = [ABSURD_PAGES]
