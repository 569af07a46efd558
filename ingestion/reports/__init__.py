"""Connector for the reporting system: periodic indicator reports, read from its exports.

The reporting system drops one folder per cut-off month under ``settings.reports_export_dir``::

    regimes.json                               the regimes, their indicators, the CSV layout
    period=YYYY-MM/bao_cao_YYYY-MM.csv         UTF-8 with BOM, CRLF, Vietnamese headers
    period=YYYY-MM/bao_cao_YYYY-MM.xlsx        the same rows (sheet "Dữ liệu", header row 7)

with one row per regime x period x unit x version x indicator. The CSV is read by default; the
workbook when ``fmt="xlsx"`` (or ``settings.reports_format``). Both give the same rows.

A run snapshots the catalogue (``raw.reports__regimes``, ``raw.reports__indicators``), then
loads the period folders from the watermark on: the watermark is the last period fully loaded,
and the latest loaded period is always read again, since resubmissions can arrive in it (the
natural key makes that safe: what was loaded counts as duplicate). Each period is landed as
read, validated with polars against the contract below, and committed in one transaction with
its rejected rows, its counts and the new watermark, so a run killed between periods loses
nothing and duplicates nothing (:mod:`~ingestion.reports.run`).

A row is rejected, with a reason naming the field and its original text as payload, when it is
not UTF-8 (the payload is then decoded as Windows-1258; in the workbook, text that is UTF-8 read
as Latin-1), misses a required field, has a date that is malformed, impossible or out of range,
names a regime, a unit (agency directory ``reference/agencies.csv``, in force on the cut-off
day) or an indicator (of the regime) that does not exist, a period label that does not match its
dates, a value outside the indicator's range, or repeats an earlier row's key with other
values. A row read again — a duplicate within a file or one already loaded — is counted as a
duplicate, and so is a rejected row already recorded by an earlier run.

The modules: :mod:`~ingestion.reports.contracts` (sources, columns, contracts, raw tables),
:mod:`~ingestion.reports.catalogue` (the regimes and indicators),
:mod:`~ingestion.reports.reference` (what rows are checked against),
:mod:`~ingestion.reports.reading` (a CSV or workbook export read),
:mod:`~ingestion.reports.validation` (its rows checked) and :mod:`~ingestion.reports.run`.
"""

from __future__ import annotations

from ingestion.reports.catalogue import ingest_catalogue, read_catalogue
from ingestion.reports.contracts import (
    COLUMNS,
    FORMATS,
    INDICATOR_CONTRACT,
    INDICATORS_SOURCE,
    INDICATORS_TABLE,
    RAW_TABLE,
    REGIME_CONTRACT,
    REGIMES_SOURCE,
    REGIMES_TABLE,
    SOURCE,
    SUBMISSION_CONTRACT,
    SUBMISSIONS,
)
from ingestion.reports.reading import read_csv_export, read_excel_export
from ingestion.reports.run import ingest_reports, period_folders
from ingestion.reports.validation import validate

__all__ = [
    "COLUMNS",
    "FORMATS",
    "INDICATORS_SOURCE",
    "INDICATORS_TABLE",
    "INDICATOR_CONTRACT",
    "RAW_TABLE",
    "REGIMES_SOURCE",
    "REGIMES_TABLE",
    "REGIME_CONTRACT",
    "SOURCE",
    "SUBMISSIONS",
    "SUBMISSION_CONTRACT",
    "ingest_catalogue",
    "ingest_reports",
    "period_folders",
    "read_catalogue",
    "read_csv_export",
    "read_excel_export",
    "validate",
]
