"""The dbt project builds on DuckDB and on PostgreSQL, and its marts agree row by row."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import yaml

from core.settings import Settings
from core.warehouse import READER_SCHEMAS, publish_serving_copy, session
from govdata.pipeline import ingest
from govdata.simulation import sources_for
from opendata.spec import default_manifest_path
from transform import spark
from transform.dbt import DBT_PROJECT_DIR, run_dbt

Fetch = Callable[[str], list[tuple[object, ...]]]

MARTS = {
    "marts.kpi_unit_month": "period_month, unit_key, kpi_code, boundaries",
    "marts.fct_dossier": "dossier_code",
    "marts.fct_dossier_event": "dossier_code, event_sequence",
    "marts.dim_date": "date_day",
    "marts.dim_procedure": "procedure_code",
    "marts.kpi_766_score_unit_month": "period_month, unit_code, unit_level, kpi_code",
    "marts.kpi_targets": "target_code",
    "marts.kpi_scorecard_province_month": "period_month, unit_code, kpi_code",
    "marts.fct_document": "document_id",
    "marts.fct_document_status": "document_id, receiver_agency_code, status_code, status_at",
    "marts.fct_report_submission": "regime_code, period_label, reporting_agency_code",
    "marts.dim_reporting_regime": "regime_code",
    "marts.dim_indicator": "indicator_code",
    "marts.kpi_dossier_field_channel_month": "period_month, unit_code, field_code, channel",
    "marts.kpi_documents_agency_month": "period_month, agency_code",
    "marts.kpi_reporting_agency_regime": "period_month, agency_code, regime_code",
    "marts.dim_admin_unit": "unit_key",
    "marts.bridge_admin_unit_crosswalk": "old_unit_key, new_unit_key",
    "marts.admin_unit_search": "unit_key, relation, related_unit_key",
    "marts.dim_agency": "agency_code, valid_from",
    # The dashboards' marts (superset_assets/).
    "marts.kpi_766_indicators": "kpi_code",
    "marts.kpi_targets_province_month": "period_month, kpi_code",
    "marts.kpi_merger_periods": "boundaries, unit_key, kpi_code, merger_period",
    "marts.kpi_merger_unit_month": "period_month, unit_key, kpi_code",
    "marts.proc_dossiers_month": "period_month, unit_key, agency_code, field_code, procedure_code",
    "marts.doc_documents_agency_month": "period_month, agency_code, unit_key",
    "marts.doc_receivers_month": "period_month, agency_code, unit_key",
    "marts.rep_reports_agency_month": "period_month, regime_code, agency_code, unit_key",
    "marts.fct_report_indicator_value": (
        "regime_code, period_label, reporting_agency_code, indicator_code"
    ),
}
# Indicators that are durations, not shares (kpi_definitions.measure = working_days).
DURATIONS = {"766.2.2"}
DOCUMENT_AND_REPORT_KPIS = {
    "doc.electronic_sent", "doc.signed", "doc.same_day_ack", "report.on_time", "report.submitted"
}  # fmt: skip


def build_on(settings: Settings, sources: Path) -> dict[str, list[tuple[object, ...]]]:
    """Ingest every source system through the pipeline, then build and test every model."""
    settings.home.mkdir(parents=True)
    (settings.home / "sources").symlink_to(sources, target_is_directory=True)
    with sources_for(settings) as reading:  # the simulator serves the procedure API
        results = ingest(reading)
    assert {r.source for r in results} >= {
        "procedures.dossiers", "procedures.events", "documents.status", "reports.submissions"
    }  # fmt: skip
    assert all(r.counts.loaded > 0 and r.counts.reconciles for r in results)
    result = run_dbt(settings, "build")
    assert not result.failures
    with session(settings) as warehouse:
        return {table: _sorted(warehouse.fetch, table, key) for table, key in MARTS.items()}


def readers_see_no_personal_data(settings: Settings, sources: Path) -> None:
    """Every text cell of every table of the readers' copy, against the applicants' names,
    phones, e-mails and identity numbers the simulator wrote, and their shapes."""
    from test_privacy import EMAIL, PHONE_OR_ID, personal_values

    copy = publish_serving_copy(settings)
    assert copy is not None
    personal = personal_values(sources)
    with duckdb.connect(str(copy), read_only=True) as readers:
        columns = readers.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR'"
        ).fetchall()
        assert columns
        for schema, table, column in columns:
            values = {
                row[0]
                for row in readers.execute(
                    f'select distinct "{column}" from "{schema}"."{table}" '
                    f'where "{column}" is not null'
                ).fetchall()
            }
            assert not values & personal, (schema, table, column)
            shaped = [v for v in values if EMAIL.search(v) or PHONE_OR_ID.fullmatch(v)]
            assert not shaped, (schema, table, column, shaped[:3])


def every_built_column_is_documented(settings: Settings) -> None:
    """The yml beside each model lists exactly the columns the build made."""
    documented: dict[str, list[str]] = {}
    for path in (DBT_PROJECT_DIR / "models").rglob("*.yml"):
        for model in yaml.safe_load(path.read_text(encoding="utf-8")).get("models", []):
            documented[model["name"]] = [c["name"] for c in model.get("columns", [])]
    with session(settings) as warehouse:
        built = warehouse.fetch(
            "select table_name, column_name from information_schema.columns "
            "where table_schema in ('staging', 'intermediate', 'marts') "
            "order by table_name, ordinal_position"
        )
    columns: dict[str, list[str]] = {}
    for table, column in built:
        columns.setdefault(table, []).append(column)
    assert set(columns) == set(documented)
    for model, names in columns.items():
        assert sorted(names) == sorted(documented[model]), model


def _sorted(fetch: Fetch, table: str, key: str) -> list[tuple[object, ...]]:
    """The table's rows in key order, sorted here: engines may collate text differently."""
    width = len(key.split(","))
    rows = fetch(f"select {key}, * from {table}")
    rows.sort(key=lambda row: tuple((value is None, str(value or "")) for value in row[:width]))
    return [row[width:] for row in rows]


def same(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return math.isclose(left, right, rel_tol=1e-12)
    return left == right


def assert_same_marts(
    expected: dict[str, list[tuple[object, ...]]], found: dict[str, list[tuple[object, ...]]]
) -> None:
    """Every mart has the same rows, value by value (floats within a relative 1e-12)."""
    for table in MARTS:
        left_rows, right_rows = expected[table], found[table]
        assert left_rows, f"{table} is empty"
        assert len(left_rows) == len(right_rows), table
        for left, right in zip(left_rows, right_rows, strict=True):
            pairs = enumerate(zip(left, right, strict=True))
            differ = [(i, a, b) for i, (a, b) in pairs if not same(a, b)]
            assert not differ, (table, left[0], differ)


@pytest.mark.timeout(900)
def test_marts_are_identical_on_duckdb_and_postgres(
    tmp_path: Path, small_sources: Path, pg_url: str
) -> None:
    duckdb_settings = Settings(home=tmp_path / "duckdb", target="duckdb")
    on_duckdb = build_on(duckdb_settings, small_sources)
    readers_see_no_personal_data(duckdb_settings, small_sources)
    every_built_column_is_documented(duckdb_settings)
    on_postgres = build_on(
        Settings(home=tmp_path / "postgres", target="postgres", pg_url=pg_url), small_sources
    )
    assert_same_marts(on_duckdb, on_postgres)

    kpis = on_duckdb["marts.kpi_unit_month"]
    current = [row for row in kpis if row[9] == "current"]
    recorded = [row for row in kpis if row[9] == "as_recorded"]
    assert {row[9] for row in kpis} == {"current", "as_recorded"}
    # On current boundaries history is restated on today's province: 35, 36 and 37 become 37.
    assert {row[1] for row in current if row[3] == "province"} == {"37"}
    assert {row[0].month for row in current if row[3] == "province"} == {6, 7, 8}
    # As recorded, June has the three old provinces, July and August the merged one.
    assert {row[1] for row in recorded if row[3] == "province" and row[0].month == 6} == {
        "35", "36", "37"
    }  # fmt: skip
    # (By month received: a dossier an old province received in June and still in process in
    # July stays on that province as recorded.)
    assert {
        row[1]
        for row in recorded
        if row[3] == "province" and row[0].month > 6 and row[4] == "766.3.3"
    } == {"37"}
    # Communes as recorded: old communes before 1 July 2025, new ones after.
    # (By month received; indicators of dossiers in process also show old communes later.)
    received = [row for row in recorded if row[3] == "commune" and row[4] == "766.3.3"]
    june = {row[1] for row in received if row[0].month == 6}
    july = {row[1] for row in received if row[0].month == 7}
    assert len(june) > len(july) > 50  # 398 old communes, 129 new ones
    # On current boundaries June is on July's communes, a split commune's share fractional.
    june_now = {row[1] for row in current if row[3] == "commune" and row[0].month == 6}
    assert june_now <= {row[1] for row in on_duckdb["marts.dim_admin_unit"] if row[13]}
    assert any(row[7] != int(row[7]) for row in current if row[0].month == 6)
    # Restating moves figures, it never loses or creates any.
    for month in (6, 7, 8):
        for level in ("province", "commune"):
            totals = [
                sum(row[7] for row in rows if row[3] == level and row[0].month == month)
                for rows in (current, recorded)
            ]
            assert math.isclose(*totals), (month, level, totals)
    # From July both readings agree.
    later = [(r[:9], r[9]) for r in kpis if r[0].month > 6 and r[4] == "766.3.3"]
    assert {r for r, b in later if b == "current"} == {r for r, b in later if b == "as_recorded"}
    assert all(0 <= row[8] <= 1 for row in kpis if row[8] is not None and row[4] not in DURATIONS)

    province = [row for row in current if row[3] == "province"]
    # Every Decision 766 indicator the sources supply, for the province in every month.
    codes = {row[4] for row in province if row[4].startswith("766.")}
    assert codes == {"766.2.1", "766.2.2", "766.3.1", "766.3.2", "766.3.3", "766.3.5",
                     "766.4.1", "766.4.2", "766.4.3", "766.5.4"}  # fmt: skip
    # The mission's sanity check: 1,685 of the default catalogue's 1,877 procedures online.
    online = [row for row in province if row[4] == "766.3.1"]
    assert {(row[6], row[7]) for row in online} == {(1685, 1877)}
    assert round(online[0][8], 3) == 0.898
    # Processing time is an average of working days, within the simulator's legal times.
    assert all(0 < row[8] < 30 for row in province if row[4] == "766.2.2")

    # The 100-point index: points within each indicator's maximum, the openness group not
    # measured, so the province is scored on the 82 points the sources supply.
    scores = on_duckdb["marts.kpi_766_score_unit_month"]
    assert all(row[14] is None or 0 <= row[14] <= row[13] for row in scores)
    province_scores = [row for row in scores if row[3] == "province"]
    assert {row[19] for row in province_scores} == {82.0}
    assert all(0 < row[18] <= 82 for row in province_scores)
    assert all(row[14] is None for row in scores if row[6] == "766.1")

    # Working days: the holidays of 30 April and 1 May 2025, the swapped day off on 2 May and
    # the Saturday 26 April worked in exchange.
    calendar = {row[0].isoformat(): row for row in on_duckdb["marts.dim_date"]}
    assert [calendar[day][11] for day in ("2025-04-26", "2025-04-30", "2025-05-02")] == [
        True, False, False
    ]  # fmt: skip

    # The scorecard holds the province's figures against the 2025 target until December.
    scorecard = on_duckdb["marts.kpi_scorecard_province_month"]
    targets = {(row[0].year, row[10]) for row in scorecard if row[3] == "766.3.1"}
    assert targets == {(2025, 2025)}

    check_documents_and_reports(duckdb_settings)
    check_dashboard_marts(duckdb_settings)

    # `govdata docs`: every model and column documented from the warehouse's catalog.
    run_dbt(duckdb_settings, "docs generate")
    catalog = json.loads((default_manifest_path().parent / "catalog.json").read_text())
    assert "model.govdata.kpi_unit_month" in catalog["nodes"]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_marts_are_identical_on_duckdb_and_spark(tmp_path: Path, small_sources: Path) -> None:
    """The same raw layer built by dbt-spark in local mode: every mart equals DuckDB's, read in
    Spark and in the readers' copy made from it."""
    duckdb_settings = Settings(home=tmp_path / "duckdb", target="duckdb")
    on_duckdb = build_on(duckdb_settings, small_sources)
    spark_settings = Settings(home=tmp_path / "spark", target="spark")
    spark_settings.home.mkdir()
    # The raw layer and the ledger as ingestion left them (through this process's instance:
    # dbt-duckdb may still hold the file).
    with duckdb.connect(str(duckdb_settings.warehouse_path)) as source:
        source.execute(f"attach '{spark_settings.warehouse_path}' as copy")
        for schema in spark.SOURCE_SCHEMAS:
            source.execute(f"create schema copy.{schema}")
            for (table,) in source.execute(
                "select table_name from information_schema.tables where table_catalog ="
                " current_database() and table_schema = ? and table_type = 'BASE TABLE'",
                [schema],
            ).fetchall():
                source.execute(f'create table copy.{schema}."{table}" as from {schema}."{table}"')
        source.execute("detach copy")
    try:
        # Models and seeds: the data tests passed on Spark too (bench/README.md), but take
        # minutes there; here the marts are compared with DuckDB's, which passed them.
        result = run_dbt(spark_settings, "build", "--exclude-resource-type", "test", "unit_test")
        assert result.nodes > 60 and not result.failures
        on_spark = {table: _sorted(spark.fetch, table, key) for table, key in MARTS.items()}
        assert_same_marts(on_duckdb, on_spark)
        copy = spark.publish_serving_copy(spark_settings, READER_SCHEMAS)
    finally:
        spark.stop_session()
    with duckdb.connect(str(copy), read_only=True) as readers:
        served = {table: _sorted(_fetcher(readers), table, key) for table, key in MARTS.items()}
    assert_same_marts(on_duckdb, served)


def _fetcher(connection: duckdb.DuckDBPyConnection) -> Fetch:
    return lambda sql: connection.execute(sql).fetchall()


def check_documents_and_reports(settings: Settings) -> None:
    """The document and reporting facts hold together, and their KPIs total them."""
    with session(settings) as warehouse:

        def one(sql: str) -> tuple[object, ...]:
            return warehouse.fetch(sql)[0]

        # Every document is attributed to its sender's unit; secret ones are never electronic,
        # paper ones never signed; every electronic one has receipts.
        documents = one("select count(*) from marts.fct_document")[0]
        assert documents > 0
        assert one(
            "select count(unit_code), sum(case when is_secret and is_electronic then 1 else 0"
            " end), sum(case when is_signed and not is_electronic then 1 else 0 end),"
            " sum(case when is_electronic and receipt_count = 0 then 1 else 0 end)"
            " from marts.fct_document"
        ) == (documents, 0, 0, 0)
        # Statuses come after the sending, each receiver answering on its own unit.
        assert one(
            "select count(*) - count(receiver_unit_code), count(*) - count(document_sent_at),"
            " min(seconds_since_sent) >= 0 from marts.fct_document_status"
        ) == (0, 0, True)
        # The province's KPIs total every document, receipt and report due.
        totals = dict(
            warehouse.fetch(
                "select kpi_code, sum(denominator) from marts.kpi_unit_month"
                " where unit_level = 'province' and boundaries = 'current' group by kpi_code"
            )
        )
        assert set(totals) >= DOCUMENT_AND_REPORT_KPIS
        assert (
            totals["doc.electronic_sent"]
            == one("select count(*) from marts.fct_document where not is_secret")[0]
        )
        assert (
            totals["doc.signed"]
            == one("select count(*) from marts.fct_document where is_electronic")[0]
        )
        assert (
            totals["doc.same_day_ack"]
            == one("select sum(receipt_count) from marts.fct_document")[0]
        )
        assert (
            totals["report.on_time"]
            == one("select count(*) from marts.fct_report_submission where is_due")[0]
        )
        # On time is the first submission on or before the deadline day.
        assert (
            one(
                "select count(*) from marts.fct_report_submission where is_on_time"
                " and cast(first_submitted_at as date) > deadline_date"
            )[0]
            == 0
        )
        # Documents and reports are counted on the units as recorded: old communes in June
        # 2025, new ones in July, every month on the merged province.
        for kpi in DOCUMENT_AND_REPORT_KPIS:
            months = warehouse.fetch(
                "select distinct extract(month from period_month) from marts.kpi_unit_month"
                " where unit_level = 'province' and kpi_code = ?",
                [kpi],
            )
            assert {int(m) for (m,) in months} == {6, 7, 8}, kpi
        communes = warehouse.fetch(
            "select extract(month from period_month), count(distinct unit_code)"
            " from marts.kpi_unit_month where unit_level = 'commune'"
            " and boundaries = 'as_recorded' and kpi_code = 'doc.electronic_sent' group by 1"
        )
        by_month = {int(m): n for m, n in communes}
        assert by_month[6] > by_month[7] > 50


def check_dashboard_marts(settings: Settings) -> None:
    """The dashboards' marts total the facts they summarise; the ops models see the ledger."""
    with session(settings) as warehouse:

        def one(sql: str) -> tuple[object, ...]:
            return warehouse.fetch(sql)[0]

        assert one(
            "select sum(received_count), sum(received_online + received_in_person"
            " + received_postal), sum(finished_early + finished_on_time + finished_late)"
            " from marts.proc_dossiers_month"
        ) == one(
            "select count(*), count(*), sum(case when timeliness is not null then 1 else 0 end)"
            " from marts.fct_dossier where is_received"
        )
        assert one("select sum(document_count) from marts.doc_documents_agency_month") == one(
            "select count(*) from marts.fct_document"
        )
        assert one("select sum(report_count) from marts.rep_reports_agency_month") == one(
            "select count(*) from marts.fct_report_submission"
        )
        # Runs reconcile; rejections are counted by reason, never with their payload.
        runs = one("select count(*) from ops.ingest_runs")[0]
        assert one(
            "select count(*), sum(case when reconciles then 1 else 0 end)"
            " from marts.ops_ingest_runs"
        ) == (runs, runs)
        assert one(
            "select coalesce(sum(rejected_count), 0) from marts.ops_rejections_by_reason"
        ) == one("select count(*) from ops.rejected_records")
        columns = {
            name
            for (name,) in warehouse.fetch(
                "select column_name from information_schema.columns"
                " where table_schema in ('marts', 'staging') and table_name like '%ops%'"
            )
        }
        assert columns and "payload" not in columns and "record_key" not in columns
        # The latest build's tests, recorded when it ended, all passed.
        assert one(
            "select count(*) > 0, sum(case when passed then 0 else 1 end)"
            " from marts.ops_build_tests"
        ) == (True, 0)
        assert {row[0] for row in warehouse.fetch(
            "select freshness from marts.ops_source_freshness")} == {"fresh"}  # fmt: skip
