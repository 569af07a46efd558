"""The generic SQL-database connector against real source databases (PostgreSQL and MariaDB).

A throw-away source database holds a feedback/complaints (PAKN) table of 10,000 rows, some of
them invalid and all with personal columns; it is read with the shipped example definition
(ingestion/sources/pakn.yaml) into DuckDB and PostgreSQL warehouses.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pymysql
import pytest
import sqlalchemy as sa

from core.errors import SourceError
from core.settings import Settings
from core.warehouse import Warehouse, session
from ingestion.ledger import RunCounts, keyed_hash
from ingestion.sql import (
    SOURCES_DIR,
    Column,
    SqlSource,
    convert,
    engine_for,
    ingest_sql,
    load_source,
    load_sources,
    source_from_mapping,
)
from ingestion.sql import reading as sql_reading
from ingestion.sql import run as sql_run

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
MARIADB = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "", "database": "test"}
URL_ENV = "GOVDATA_SQL_PAKN_URL"
PII_KEY = "test-pii-key"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
ROWS = 10_000
BATCH = 1000
BASE = datetime(2025, 7, 1, 7, 30)
FIELDS = ["DAT_DAI", "MOI_TRUONG", "GIAO_THONG", "XAY_DUNG", "Y_TE", "GIAO_DUC", "KHAC"]
COMMUNES = ["14173", "14176", "14179", "14200", "14227"]

SOURCE = load_source(SOURCES_DIR / "pakn.yaml")
COLUMNS = [c.name for c in SOURCE.columns]
RAW_COLUMNS = [c.output for c in SOURCE.columns if c.output]
PERSONAL = ["noi_dung", "ho_ten_nguoi_gui", "email", "so_dien_thoai", "so_dinh_danh"]

# (column, bad value, reason it must be rejected with)
BREAKS: list[tuple[str, object, str]] = [
    ("linh_vuc", "XYZ", "linh_vuc: unknown code"),
    ("ma_xa", "12A45", "ma_xa: not in the expected format"),
    ("ngay_tiep_nhan", None, "missing required field ngay_tiep_nhan"),
    ("so_ngay_xu_ly", -4, "so_ngay_xu_ly: below 0"),
    ("so_ngay_xu_ly", 99999, "so_ngay_xu_ly: above 3650"),
    ("diem_hai_long", Decimal("42.0"), "diem_hai_long: above 5"),
    ("han_xu_ly", date(1900, 1, 1), "han_xu_ly: before 2015-01-01"),
    ("so_dinh_danh", "12345", "so_dinh_danh: not in the expected format"),
    ("trang_thai", 9, "trang_thai: unknown code"),
    ("linh_vuc", "", "missing required field linh_vuc"),
    ("kenh_tiep_nhan", 0, "kenh_tiep_nhan: unknown code"),
]
NULL_KEY = (101, 4242)  # rows whose natural key is null
NULL_UPDATED = (77, 5001)  # rows whose update column is null


# ------------------------------------------------------------------ the source's data


@dataclass
class Dataset:
    rows: list[dict[str, Any]]  # as the source holds them (ngay_cap_nhat in local time)
    reasons: dict[int, str]  # row index -> why it must be rejected


def make_row(i: int, rng: random.Random, updated: datetime) -> dict[str, Any]:
    received = updated - timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 600))
    return {
        "ma_pakn": f"PA2025{i:06d}",
        "linh_vuc": rng.choice(FIELDS),
        "ma_xa": rng.choice(COMMUNES),
        "kenh_tiep_nhan": rng.choice([1, 2, 3, 4, 5, None]),
        "trang_thai": rng.randint(1, 5),
        "ngay_tiep_nhan": received,
        "han_xu_ly": received.date() + timedelta(days=15),
        "so_ngay_xu_ly": rng.choice([None, *range(0, 30)]),
        "diem_hai_long": rng.choice([None, Decimal(rng.randint(10, 50)) / 10]),
        "da_cong_khai": rng.choice([True, False, None]),
        "noi_dung": f'Phản ánh số {i}: đường "xóm {i % 40}", ổ gà,\nđề nghị sửa.',
        "ho_ten_nguoi_gui": f"Nguyễn Văn Người Gửi {i}",
        "email": f"nguoigui{i}@example.vn",
        "so_dien_thoai": f"09{rng.randint(0, 10**8 - 1):08d}",
        "so_dinh_danh": f"{rng.randint(10**11, 10**12 - 1)}",
        "ngay_cap_nhat": updated,
    }


def make_dataset() -> Dataset:
    rng = random.Random(20250701)
    rows, reasons = [], {}
    for i in range(ROWS):
        # Seven rows share each update time, so batches end in the middle of a tie.
        row = make_row(i, rng, BASE + timedelta(minutes=i // 7))
        if i % 37 == 5:
            column, value, reason = BREAKS[(i // 37) % len(BREAKS)]
            row[column] = value
            reasons[i] = reason
        rows.append(row)
    for i in NULL_KEY:
        rows[i]["ma_pakn"] = None
        reasons[i] = "missing required field ma_pakn"
    for i in NULL_UPDATED:
        rows[i]["ngay_cap_nhat"] = None
        reasons[i] = "missing required field ngay_cap_nhat"
    return Dataset(rows, reasons)


DATA = make_dataset()


def raw_row(row: dict[str, Any]) -> tuple[object, ...]:
    """What the raw table must hold for a valid source row."""
    key = PII_KEY.encode()
    values = {
        **row,
        "diem_hai_long": None if row["diem_hai_long"] is None else float(row["diem_hai_long"]),
        "so_dien_thoai_hash": keyed_hash(key, row["so_dien_thoai"]),
        "so_dinh_danh_hash": keyed_hash(key, row["so_dinh_danh"]),
    }
    return tuple(values[c] for c in RAW_COLUMNS)


def expected_raw(rows: list[dict[str, Any]], reasons: dict[int, str]) -> list[tuple[object, ...]]:
    return sorted(raw_row(r) for i, r in enumerate(rows) if i not in reasons)


def expected_rejections(rows: list[dict[str, Any]], reasons: dict[int, str]) -> Counter:
    return Counter((rows[i]["ma_pakn"] or "", reason) for i, reason in reasons.items())


PERSONAL_VALUES = {str(r[c]) for r in DATA.rows for c in PERSONAL if r[c] is not None}


# ------------------------------------------------------------------ source databases


PG_DDL = """
create schema pakn;
create table pakn.phan_anh_kien_nghi (
    ma_pakn varchar(20) unique,
    linh_vuc varchar(30),
    ma_xa varchar(10),
    kenh_tiep_nhan smallint,
    trang_thai smallint,
    ngay_tiep_nhan timestamp,
    han_xu_ly date,
    so_ngay_xu_ly integer,
    diem_hai_long numeric(4, 1),
    da_cong_khai boolean,
    noi_dung text,
    ho_ten_nguoi_gui varchar(100),
    email varchar(100),
    so_dien_thoai varchar(20),
    so_dinh_danh varchar(20),
    ngay_cap_nhat timestamptz
);
create index on pakn.phan_anh_kien_nghi (ngay_cap_nhat, ma_pakn);
"""


@dataclass
class PgSource:
    name: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{self.name}", autocommit=True)

    def insert(self, rows: list[dict[str, Any]]) -> None:
        columns = ", ".join(COLUMNS)
        with (
            self.connect() as connection,
            connection.cursor() as cursor,
            cursor.copy(f"copy pakn.phan_anh_kien_nghi ({columns}) from stdin") as copy,
        ):
            for row in rows:
                values = dict(row)
                if values["ngay_cap_nhat"] is not None:  # the source keeps it with its zone
                    values["ngay_cap_nhat"] = values["ngay_cap_nhat"].replace(tzinfo=VN)
                copy.write_row([values[c] for c in COLUMNS])


@pytest.fixture
def pg_source() -> Iterator[PgSource]:
    """A throw-away PostgreSQL source database with the PAKN table."""
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable at 127.0.0.1:5432 ({error})", pytrace=False)
    source = PgSource(f"govdata_src_{uuid.uuid4().hex[:10]}")
    with admin:
        admin.execute(f'create database "{source.name}"')
    with source.connect() as connection:
        connection.execute(PG_DDL)
    source.insert(DATA.rows)
    yield source
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{source.name}" with (force)')


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GOVDATA_"):
            monkeypatch.delenv(name)


def settings_for(home: Path, pg_url: str | None = None) -> Settings:
    target = "postgres" if pg_url else "duckdb"
    extra = {"pg_url": pg_url} if pg_url else {}
    return Settings(home=home, target=target, pii_hash_key=PII_KEY, **extra)


def raw_rows(warehouse: Warehouse, table: str = "raw.sql__pakn") -> list[tuple[object, ...]]:
    columns = ", ".join(RAW_COLUMNS)
    return sorted(warehouse.fetch(f"select {columns} from {table}"))


def rejections(warehouse: Warehouse) -> Counter:
    return Counter(
        warehouse.fetch("select coalesce(record_key, ''), reason from ops.rejected_records")
    )


def rejected_payloads(warehouse: Warehouse) -> list[tuple[str, str, str]]:
    return sorted(warehouse.fetch("select record_key, reason, payload from ops.rejected_records"))


def assert_no_personal_data(warehouse: Warehouse) -> None:
    (schema, name) = ("raw", "sql__pakn")
    columns = {
        r[0]
        for r in warehouse.fetch(
            "select column_name from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, name],
        )
    }
    assert not columns & set(PERSONAL), "a personal column reached the raw table"
    assert {"so_dien_thoai_hash", "so_dinh_danh_hash"} <= columns
    stored = {str(v) for row in warehouse.fetch("select * from raw.sql__pakn") for v in row}
    assert not stored & PERSONAL_VALUES, "personal data reached the raw table"
    for (payload,) in warehouse.fetch("select payload from ops.rejected_records"):
        values = {str(v) for v in json.loads(payload).values()}
        assert not values & PERSONAL_VALUES, "personal data reached ops.rejected_records"


def assert_reconciles(warehouse: Warehouse) -> None:
    runs = warehouse.fetch(
        "select rows_read, rows_loaded, rows_rejected, rows_duplicate from ops.ingest_runs "
        "where status = 'success'"
    )
    assert runs and all(read == loaded + rej + dup for read, loaded, rej, dup in runs)


# ------------------------------------------------------------------ tests


def test_full_incremental_and_rerun_on_duckdb_and_postgres(
    pg_source: PgSource, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, pg_source.url)
    expected = expected_raw(DATA.rows, DATA.reasons)
    valid = ROWS - len(DATA.reasons)
    with ExitStack() as stack:
        warehouses = {
            name: (settings, stack.enter_context(session(settings)))
            for name, settings in (
                ("duckdb", settings_for(tmp_path / "duck")),
                ("postgres", settings_for(tmp_path / "pg", pg_url)),
            )
        }

        # 1. The first run reads everything: invalid rows kept with their reason.
        for settings, warehouse in warehouses.values():
            first = ingest_sql(settings, warehouse, SOURCE, batch_size=BATCH)
            assert first.status == "success"
            counts = first.counts
            assert (counts.read, counts.loaded, counts.rejected, counts.duplicate) == (
                ROWS, valid, len(DATA.reasons), 0
            )  # fmt: skip
            assert rejections(warehouse) == expected_rejections(DATA.rows, DATA.reasons)
            assert raw_rows(warehouse) == expected
            assert_no_personal_data(warehouse)
            landed = list((settings.landing_dir / "source=sql.pakn").rglob("*.parquet"))
            assert len(landed) == 1 + ROWS // BATCH  # the null-key rows, then the batches

        # 2. The source changes: 50 rows updated, one made invalid, 30 + 2 bad rows inserted.
        later = BASE + timedelta(days=120)
        changed = [f"PA2025{i:06d}" for i in range(0, 1000, 20) if i not in DATA.reasons][:50]
        spoiled = "PA2025000003"
        rng = random.Random(7)
        new_rows = [make_row(ROWS + i, rng, later + timedelta(seconds=i)) for i in range(32)]
        new_rows[30]["so_ngay_xu_ly"] = -1
        new_rows[31]["ma_xa"] = "1"
        with pg_source.connect() as connection:
            for n, key in enumerate(changed):
                connection.execute(
                    "update pakn.phan_anh_kien_nghi set trang_thai = 5, so_ngay_xu_ly = 7, "
                    "ngay_cap_nhat = %s where ma_pakn = %s",
                    [(later - timedelta(minutes=n)).replace(tzinfo=VN), key],
                )
            connection.execute(
                "update pakn.phan_anh_kien_nghi set linh_vuc = '???', ngay_cap_nhat = %s "
                "where ma_pakn = %s",
                [later.replace(tzinfo=VN), spoiled],
            )
        pg_source.insert(new_rows)

        for settings, warehouse in warehouses.values():
            before = raw_rows(warehouse)
            second = ingest_sql(settings, warehouse, SOURCE, batch_size=BATCH)
            counts = second.counts
            assert (counts.loaded, counts.rejected) == (len(changed) + 30, 3)
            assert counts.reconciles
            after = raw_rows(warehouse)
            assert len(after) == len(before) + len(changed) + 30
            assert set(before) <= set(after)  # history kept
            versions = dict(
                warehouse.fetch(
                    "select ma_pakn, count(*) from raw.sql__pakn where ma_pakn in "
                    f"({', '.join('?' for _ in changed)}) group by ma_pakn",
                    changed,
                )
            )
            assert versions == dict.fromkeys(changed, 2)
            latest = dict(
                warehouse.fetch(
                    "select ma_pakn, trang_thai from raw.sql__pakn__latest where ma_pakn in "
                    f"({', '.join('?' for _ in changed)}, ?)",
                    [*changed, spoiled],
                )
            )
            assert all(latest[key] == 5 for key in changed)
            assert latest[spoiled] == DATA.rows[3]["trang_thai"]  # its bad version not loaded
            assert ("PA2025000003", "linh_vuc: unknown code") in rejections(warehouse)
            (count,) = warehouse.fetch("select count(*) from raw.sql__pakn__latest")[0]
            assert count == valid + 30

            # 3. A re-run changes nothing: what it reads again counts as duplicates.
            rejected_before = rejected_payloads(warehouse)
            third = ingest_sql(settings, warehouse, SOURCE, batch_size=BATCH)
            counts = third.counts
            assert (counts.loaded, counts.rejected) == (0, 0)
            assert counts.read == counts.duplicate > 0
            assert raw_rows(warehouse) == after
            assert rejected_payloads(warehouse) == rejected_before
            assert_reconciles(warehouse)
            assert_no_personal_data(warehouse)

        # DuckDB and PostgreSQL hold the same rows and the same rejections.
        (_, duck), (_, pg) = warehouses["duckdb"], warehouses["postgres"]
        assert raw_rows(duck) == raw_rows(pg)
        assert raw_rows(duck, "raw.sql__pakn__latest") == raw_rows(pg, "raw.sql__pakn__latest")
        assert rejected_payloads(duck) == rejected_payloads(pg)
        assert duck.fetch("select watermark from ops.source_state") == pg.fetch(
            "select watermark from ops.source_state"
        )


class Killed(Exception):
    """Stands for a worker killed between two batches."""


@pytest.mark.parametrize("target", ["duckdb", "postgres"])
def test_a_killed_run_resumes_to_the_same_table(
    target: str, pg_source: PgSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    monkeypatch.setenv(URL_ENV, pg_source.url)
    clean = settings_for(tmp_path / "clean")
    with session(clean) as warehouse:
        ingest_sql(clean, warehouse, SOURCE, batch_size=BATCH)
        clean_raw, clean_rejected = raw_rows(warehouse), rejected_payloads(warehouse)

    pg_url = request.getfixturevalue("pg_url") if target == "postgres" else None
    settings = settings_for(tmp_path / "killed", pg_url)
    batches: list[RunCounts] = []

    def killed_after_the_third_batch(counts: RunCounts) -> None:
        batches.append(counts)
        if len(batches) == 3:
            raise Killed("worker killed")

    with session(settings) as warehouse:
        with pytest.raises(Killed):
            ingest_sql(settings, warehouse, SOURCE, batch_size=BATCH,
                       on_batch=killed_after_the_third_batch)  # fmt: skip
        partial = raw_rows(warehouse)
        assert 0 < len(partial) < len(clean_raw)
        resumed = ingest_sql(settings, warehouse, SOURCE, batch_size=BATCH)
        assert resumed.counts.loaded == len(clean_raw) - len(partial)
        assert raw_rows(warehouse) == clean_raw
        assert rejected_payloads(warehouse) == clean_rejected  # none recorded twice
        runs = warehouse.fetch("select status, message from ops.ingest_runs order by started_at")
        assert [r[0] for r in runs] == ["failed", "success"]
        assert "sql.pakn" in runs[0][1] and "worker killed" in runs[0][1]
        assert_reconciles(warehouse)


def test_transient_connection_failures_are_survived(
    pg_source: PgSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses the first connection, then restarts after the first batch."""
    monkeypatch.setenv(URL_ENV, pg_source.url)
    attempts: list[bool] = []  # one per connection attempt: did it fail?

    def flaky_engine(source: SqlSource, url: str) -> sa.Engine:
        engine = engine_for(source, url)

        @sa.event.listens_for(engine, "do_connect")
        def refuse(*_: object) -> None:
            fail = len(attempts) in (0, 2)  # the first attempt, and the first after the restart
            attempts.append(fail)
            if fail:
                raise psycopg.OperationalError("the database system is starting up")

        return engine

    def restart_source(counts: RunCounts) -> None:
        if len(attempts) == 2:  # after the first batch: drop every connection to the source
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
                admin.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity "
                    "where datname = %s and pid <> pg_backend_pid()",
                    [pg_source.name],
                )

    monkeypatch.setattr(sql_run, "engine_for", flaky_engine)  # where the run looks it up
    settings = settings_for(tmp_path)
    with session(settings) as warehouse:
        result = ingest_sql(settings, warehouse, SOURCE, batch_size=BATCH, backoff_seconds=0.05,
                            on_batch=restart_source)  # fmt: skip
        assert result.status == "success" and result.counts.reconciles
        assert raw_rows(warehouse) == expected_raw(DATA.rows, DATA.reasons)
    assert attempts[:4] == [True, False, True, False]


def test_permanent_errors_fail_the_run_naming_the_source(
    pg_source: PgSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    with session(settings) as warehouse:
        with pytest.raises(SourceError, match=f"sql.pakn: set {URL_ENV}"):
            ingest_sql(settings, warehouse, SOURCE)

        monkeypatch.setenv(URL_ENV, pg_source.url)
        missing = replace(SOURCE, table="pakn.khong_co")
        with pytest.raises(
            SourceError, match=r"sql\.pakn: reading .* failed: UndefinedTable.*khong_co"
        ):
            ingest_sql(settings, warehouse, missing)  # permanent: no retry, no wait

        monkeypatch.setenv(URL_ENV, "postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
        with pytest.raises(SourceError, match=r"sql\.pakn: .* failed 3 times, last: "):
            ingest_sql(settings, warehouse, SOURCE, attempts=3, backoff_seconds=0.01)

        runs = warehouse.fetch("select status, message from ops.ingest_runs order by started_at")
    assert [status for status, _ in runs] == ["failed"] * 3
    assert all(message.startswith("sql.pakn: ") for _, message in runs)


@pytest.fixture
def mariadb_table() -> Iterator[str]:
    """The same PAKN table in MariaDB (naive local timestamps, BOOLEAN as TINYINT(1))."""
    try:
        connection = pymysql.connect(**MARIADB, connect_timeout=5, charset="utf8mb4")
    except pymysql.err.OperationalError as error:
        pytest.fail(
            f"MariaDB is not reachable at 127.0.0.1:3306 as root, database test ({error}); "
            "start it with `start-stop-daemon --start --oknodo --background "
            "--exec /usr/sbin/mariadbd`",
            pytrace=False,
        )
    table = f"pakn_{uuid.uuid4().hex[:10]}"
    with connection, connection.cursor() as cursor:
        cursor.execute(
            f"""create table {table} (
                ma_pakn varchar(20) null, linh_vuc varchar(30), ma_xa varchar(10),
                kenh_tiep_nhan smallint, trang_thai smallint, ngay_tiep_nhan datetime(6),
                han_xu_ly date, so_ngay_xu_ly int, diem_hai_long decimal(4, 1),
                da_cong_khai boolean, noi_dung text, ho_ten_nguoi_gui varchar(100),
                email varchar(100), so_dien_thoai varchar(20), so_dinh_danh varchar(20),
                ngay_cap_nhat datetime(6) null,
                unique key (ma_pakn), key (ngay_cap_nhat, ma_pakn)
            ) character set utf8mb4 collate utf8mb4_bin"""
        )
        placeholders = ", ".join(["%s"] * len(COLUMNS))
        cursor.executemany(
            f"insert into {table} ({', '.join(COLUMNS)}) values ({placeholders})",
            [[row[c] for c in COLUMNS] for row in DATA.rows],
        )
        connection.commit()
    try:
        yield table
    finally:
        with pymysql.connect(**MARIADB) as connection, connection.cursor() as cursor:
            cursor.execute(f"drop table if exists {table}")


def test_mariadb_source_into_postgres(
    mariadb_table: str, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4"
    monkeypatch.setenv(URL_ENV, url)
    source = replace(SOURCE, table=mariadb_table)

    # Left without types, the columns are typed from the table itself, the same as declared.
    untyped = replace(source, columns=tuple(replace(c, kind=None) for c in source.columns))
    engine = engine_for(untyped, url)
    try:
        reflected = sql_reading.Reader(untyped, engine, BATCH, 1, 0).reflect()
    finally:
        engine.dispose()
    assert reflected == {c.name: c.kind for c in SOURCE.columns}

    settings = settings_for(tmp_path, pg_url)
    with session(settings) as warehouse:
        result = ingest_sql(settings, warehouse, untyped, batch_size=BATCH)
        assert result.counts.read == ROWS and result.counts.reconciles
        assert raw_rows(warehouse) == expected_raw(DATA.rows, DATA.reasons)
        assert rejections(warehouse) == expected_rejections(DATA.rows, DATA.reasons)
        assert_no_personal_data(warehouse)
        again = ingest_sql(settings, warehouse, untyped, batch_size=BATCH)
        assert (again.counts.loaded, again.counts.rejected) == (0, 0)


def test_postgres_types_are_reflected(pg_source: PgSource) -> None:
    untyped = replace(SOURCE, columns=tuple(replace(c, kind=None) for c in SOURCE.columns))
    engine = engine_for(untyped, pg_source.url)
    try:
        reflected = sql_reading.Reader(untyped, engine, BATCH, 1, 0).reflect()
    finally:
        engine.dispose()
    assert reflected == {c.name: c.kind for c in SOURCE.columns}


def test_query_source(pg_source: PgSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A source can be a query; its rows are paginated the same way."""
    monkeypatch.setenv("PAKN_REPORTING_URL", pg_source.url)
    source = source_from_mapping(
        {
            "name": "pakn_open",
            "url_env": "PAKN_REPORTING_URL",
            "query": "select ma_pakn, trang_thai, ngay_cap_nhat from pakn.phan_anh_kien_nghi "
            "where da_cong_khai",
            "natural_key": "ma_pakn",
            "updated_column": "ngay_cap_nhat",
            "columns": {
                "ma_pakn": {"type": "string"},
                "trang_thai": {"type": "int", "allowed": [1, 2, 3, 4, 5]},
                "ngay_cap_nhat": {"type": "datetime"},
            },
        }
    )
    published = [r for r in DATA.rows if r["da_cong_khai"]]
    incomplete = [r for r in published if not (r["ma_pakn"] and r["ngay_cap_nhat"])]
    bad_status = [r for r in published if r["trang_thai"] not in (1, 2, 3, 4, 5)]
    settings = settings_for(tmp_path)
    with session(settings) as warehouse:
        result = ingest_sql(settings, warehouse, source, batch_size=500)
        (loaded,) = warehouse.fetch("select count(*) from raw.sql__pakn_open")[0]
    assert result.counts.read == len(published)
    assert result.counts.rejected == len(incomplete) + len(bad_status)
    assert loaded == result.counts.loaded == len(published) - len(incomplete) - len(bad_status)


def test_the_example_definition_and_bad_ones() -> None:
    assert SOURCE.source_id == "sql.pakn" and SOURCE.raw_table_name == "raw.sql__pakn"
    assert SOURCE.env_var == URL_ENV and not SOURCE.enabled
    assert SOURCE not in load_sources()  # disabled by default
    assert SOURCE in load_sources(enabled_only=False)
    assert set(SOURCE.contract.personal_fields) == set(PERSONAL)
    with pytest.raises(ValueError, match="cannot be personal"):
        replace(SOURCE, columns=(replace(SOURCE.columns[0], personal="hash"), *SOURCE.columns[1:]))
    with pytest.raises(ValueError, match="exactly one of table or query"):
        replace(SOURCE, query="select 1")
    with pytest.raises(ValueError, match="plain identifiers"):
        SqlSource("x", (Column("a b"), Column("u")), ("a b",), "u", table="t")


def test_values_are_converted_to_the_raw_types() -> None:
    aware = datetime(2025, 7, 1, 1, 0, tzinfo=ZoneInfo("UTC"))
    assert convert(aware, "timestamp", VN) == (datetime(2025, 7, 1, 8, 0), None)
    assert convert("2025-07-01T08:00:00+07:00", "timestamp", VN) == (datetime(2025, 7, 1, 8), None)
    assert convert(date(2025, 7, 1), "timestamp", VN) == (datetime(2025, 7, 1), None)
    assert convert(aware, "date", VN) == (date(2025, 7, 1), None)
    assert convert(Decimal("12"), "integer", VN) == (12, None)
    assert convert(Decimal("1.5"), "integer", VN) == (None, "not an integer")
    assert convert("abc", "integer", VN) == (None, "not an integer")
    assert convert(2**70, "integer", VN) == (None, "integer out of range")
    assert convert(Decimal("4.5"), "float", VN) == (4.5, None)
    assert convert(float("nan"), "float", VN) == (None, "not a finite number")
    assert convert(1, "boolean", VN) == (True, None)
    assert convert(2, "boolean", VN) == (None, "not a boolean")
    assert convert(Decimal("1.50"), "string", VN) == ("1.50", None)
    assert convert(b"\xff", "string", VN) == (None, "not valid UTF-8 text")
    assert convert("a\x00b", "string", VN) == (None, "contains a NUL character")
    assert convert(None, "date", VN) == (None, None)


def test_a_row_updated_in_the_future_never_moves_the_watermark(
    pg_source: PgSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row whose clock said 2099 is rejected with its reason; the next genuine update is read."""
    monkeypatch.setenv(URL_ENV, pg_source.url)
    rng = random.Random(11)
    pg_source.insert([make_row(ROWS + 1, rng, datetime(2099, 12, 31))])
    settings = settings_for(tmp_path / "duck")
    with session(settings) as warehouse:
        first = ingest_sql(settings, warehouse, SOURCE, batch_size=BATCH)
        assert first.watermark_to is not None and first.watermark_to < "2099"
        assert first.counts.reconciles
        reasons = {key: reason for key, reason in rejections(warehouse)}
        assert "in the future" in reasons[f"PA2025{ROWS + 1:06d}"]
        newest = datetime.fromisoformat(first.watermark_to).astimezone(VN).replace(tzinfo=None)
        genuine = newest + timedelta(minutes=5)  # local time, as the source system keeps it
        pg_source.insert([make_row(ROWS + 2, rng, genuine)])
        second = ingest_sql(settings, warehouse, SOURCE, batch_size=BATCH)
    assert second.counts.loaded == 1, second.counts
    assert second.watermark_to is not None
    assert datetime.fromisoformat(second.watermark_to) == genuine.replace(tzinfo=VN)
