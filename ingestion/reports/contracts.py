"""The reporting system's sources, the export's columns (as the system names them) and the
values they take, the contracts of a submission row and of the catalogue, and the raw tables."""

from __future__ import annotations

import re

import polars as pl
import pyarrow as pa

from ingestion.contract import Contract, Field
from ingestion.loader import RawTable

SOURCE = "reports.submissions"
REGIMES_SOURCE = "reports.regimes"
INDICATORS_SOURCE = "reports.indicators"
RAW_TABLE = "raw.reports__submissions"
REGIMES_TABLE = "raw.reports__regimes"
INDICATORS_TABLE = "raw.reports__indicators"
CATALOGUE_FILE = "regimes.json"
FORMATS = ("csv", "xlsx")
PERIOD_FOLDER = re.compile(r"^period=(\d{4}-\d{2})$")

# The export's columns, as the reporting system names them.
REGIME, REGIME_NAME, PERIOD, FROM, TO = (
    "Mã báo cáo", "Tên báo cáo", "Kỳ báo cáo", "Từ ngày", "Đến ngày",
)  # fmt: skip
UNIT, UNIT_NAME, INDICATOR, INDICATOR_NAME, MEASURE = (
    "Mã đơn vị", "Tên đơn vị", "Mã chỉ tiêu", "Tên chỉ tiêu", "Đơn vị tính",
)  # fmt: skip
VALUE, DEADLINE, SUBMITTED, VERSION, STATUS = (
    "Giá trị", "Thời hạn nộp", "Thời điểm nộp", "Lần nộp", "Trạng thái",
)  # fmt: skip
COLUMNS = (REGIME, REGIME_NAME, PERIOD, FROM, TO, UNIT, UNIT_NAME, INDICATOR, INDICATOR_NAME,
           MEASURE, VALUE, DEADLINE, SUBMITTED, VERSION, STATUS)  # fmt: skip
DATE_COLUMNS = (FROM, TO, DEADLINE)
TEXT_COLUMNS = tuple(c for c in COLUMNS if c not in (*DATE_COLUMNS, SUBMITTED, VALUE, VERSION))
KEY_COLUMNS = (REGIME, PERIOD, UNIT, INDICATOR, VERSION)

SUBMITTED_STATUS, REPLACED_STATUS, NOT_SUBMITTED_STATUS = "Đã nộp", "Đã thay thế", "Chưa nộp"
STATUSES = (SUBMITTED_STATUS, REPLACED_STATUS, NOT_SUBMITTED_STATUS)
FREQUENCIES = ("monthly", "quarterly", "semi_annual", "annual")
INDICATOR_TYPES = ("integer", "money_vnd", "percentage")
WHOLE_TYPES = ("integer", "money_vnd")
# Period labels each frequency files (semi-annual regimes file the 6-month and annual reports).
PERIOD_KINDS = {"monthly": ("month",), "quarterly": ("quarter",),
                "semi_annual": ("six_months", "year"), "annual": ("year",)}  # fmt: skip
DATE_FORMAT, DATETIME_FORMAT = "%d/%m/%Y", "%d/%m/%Y %H:%M:%S"
DATE_PATTERN = r"^\d{2}/\d{2}/\d{4}$"
DATETIME_PATTERN = r"^\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$"
DEADLINE_WINDOW_DAYS = 62  # a deadline falls within this many days after the cut-off
LATEST_SUBMISSION_DAYS = 366  # a submission more than a year after the cut-off is not credible


SUBMISSION_CONTRACT = Contract(
    source=SOURCE,
    fields=(
        Field(REGIME, required=True, codes="regimes", description="Regime code"),
        Field(REGIME_NAME, required=True, description="Regime name"),
        Field(PERIOD, required=True, description="Period label: Tháng 07/2025, Quý III/2025, ..."),
        Field(FROM, required=True, pattern=DATE_PATTERN, timestamp_format=DATE_FORMAT,
              description="First day of the period"),
        Field(TO, required=True, pattern=DATE_PATTERN, timestamp_format=DATE_FORMAT,
              description="Cut-off: last day of the period"),
        Field(UNIT, required=True, codes="agencies",
              description="Reporting agency's electronic identifier code"),
        Field(UNIT_NAME, required=True, description="Reporting agency's name"),
        Field(INDICATOR, required=True, codes="indicators", description="Indicator code"),
        Field(INDICATOR_NAME, required=True, description="Indicator name"),
        Field(MEASURE, required=True, description="Unit of measure"),
        Field(VALUE, description="Value; empty when not submitted"),
        Field(DEADLINE, required=True, pattern=DATE_PATTERN, timestamp_format=DATE_FORMAT,
              description="Deadline day, inclusive"),
        Field(SUBMITTED, pattern=DATETIME_PATTERN, timestamp_format=DATETIME_FORMAT,
              description="Submission time (local); empty when not submitted"),
        Field(VERSION, pattern=r"^[1-9]\d*$", description="Version 1, 2, ...; empty when not "
              "submitted"),
        Field(STATUS, required=True, allowed=STATUSES, description="Đã nộp, Đã thay thế, Chưa nộp"),
    ),
)  # fmt: skip

REGIME_CONTRACT = Contract(
    source=REGIMES_SOURCE,
    fields=(
        Field("code", required=True),
        Field("name", required=True),
        Field("frequency", required=True, allowed=FREQUENCIES),
        Field("deadline_rule", allowed=("day", "wd")),
    ),
)
INDICATOR_CONTRACT = Contract(
    source=INDICATORS_SOURCE,
    fields=(
        Field("code", required=True),
        Field("name", required=True),
        Field("unit", required=True),
        Field("type", required=True, allowed=INDICATOR_TYPES),
        Field("min_value", pl.Float64, required=True),
        Field("max_value", pl.Float64, required=True),
    ),
)

SUBMISSIONS = RawTable(
    name=RAW_TABLE,
    schema=pa.schema(
        [
            ("regime_code", pa.string()),
            ("regime_name", pa.string()),
            ("period_label", pa.string()),
            ("period_start", pa.date32()),
            ("period_end", pa.date32()),
            ("unit_code", pa.string()),
            ("unit_name", pa.string()),
            ("indicator_code", pa.string()),
            ("indicator_name", pa.string()),
            ("indicator_unit", pa.string()),
            ("value", pa.float64()),
            ("deadline", pa.date32()),
            ("submitted_at", pa.timestamp("us")),
            ("version", pa.int64()),
            ("status", pa.string()),
            ("source_file", pa.string()),
            ("source_line", pa.int64()),
        ]
    ),
    natural_key=("regime_code", "period_label", "unit_code", "indicator_code", "version"),
)
REGIMES_SCHEMA = pa.schema(
    [
        ("code", pa.string()),
        ("name", pa.string()),
        ("issuing_body", pa.string()),
        ("frequency", pa.string()),
        ("reporting_kinds", pa.string()),  # JSON
        ("departments", pa.string()),  # JSON
        ("deadline_rule", pa.string()),
        ("deadline_value", pa.int64()),
        ("indicator_codes", pa.string()),  # JSON
    ]
)
REGIMES_JSON = ("reporting_kinds", "departments", "indicator_codes")
INDICATORS_SCHEMA = pa.schema(
    [
        ("code", pa.string()),
        ("name", pa.string()),
        ("unit", pa.string()),
        ("type", pa.string()),
        ("min_value", pa.float64()),
        ("max_value", pa.float64()),
    ]
)
