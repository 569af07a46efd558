"""Backup and restore: a restored warehouse carries on where the backed-up one stood — the next
ingest loads nothing twice, and the marts built on it are the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BackupError
from core.settings import Settings
from core.warehouse import session
from govdata import backup, pipeline
from govdata.simulation import sources_for

TABLES = (
    "raw.procedures__dossiers", "raw.procedures__events", "raw.documents__status",
    "raw.reports__submissions", "ops.source_state", "ops.rejected_records",
)  # fmt: skip
MARTS = ("marts.kpi_unit_month", "marts.fct_dossier", "marts.kpi_766_score_unit_month")


def contents(settings: Settings, tables: tuple[str, ...]) -> dict[str, list[str]]:
    """Each table's rows, sorted; sums of doubles to 9 decimals (their last digits follow the
    order DuckDB's threads added them in)."""

    def row(values: tuple[object, ...]) -> str:
        return repr(tuple(round(v, 9) if isinstance(v, float) else v for v in values))

    with session(settings) as warehouse:
        return {t: sorted(map(row, warehouse.fetch(f"select * from {t}"))) for t in tables}


def ingest_and_build(settings: Settings, build: bool = True) -> list[pipeline.IngestResult]:
    with sources_for(settings) as reading:
        results = pipeline.ingest(reading)
    assert not pipeline.failures(results)
    if build:
        pipeline.build(settings)
    return results


def settings_at(home: Path, sources: Path, **extra: object) -> Settings:
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "sources").exists():
        (home / "sources").symlink_to(sources, target_is_directory=True)
    return Settings(home=home, **extra)  # type: ignore[arg-type]


def round_trip(original: Settings, restored: Settings, tmp_path: Path) -> None:
    ingest_and_build(original)
    before = contents(original, TABLES + MARTS)
    summary = backup.backup(original, tmp_path / "backup")
    assert summary.tables > 20
    assert (tmp_path / "backup" / "secrets" / "pii_hash.key").exists()
    with pytest.raises(BackupError, match="not empty"):
        backup.backup(original, tmp_path / "backup")

    backup.restore(restored, tmp_path / "backup")
    assert restored.pii_key() == original.pii_key()
    assert contents(restored, TABLES + MARTS) == before
    again = ingest_and_build(restored)  # carries on: nothing new, nothing twice
    assert all(r.counts.reconciles for r in again), again
    # (the agency directory and the catalogue are snapshots, replaced whole each run)
    snapshots = {"procedures.agencies", "procedures.catalogue"}
    loaded = {r.source: r.counts.loaded for r in again if r.source not in snapshots}
    assert set(loaded.values()) == {0}, loaded
    after = contents(restored, TABLES + MARTS)
    for table in TABLES[:4] + MARTS:
        assert after[table] == before[table], table
    with pytest.raises(BackupError, match="restore with --replace"):
        backup.restore(restored, tmp_path / "backup")
    backup.restore(restored, tmp_path / "backup", replace=True)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_duckdb_round_trip(tmp_path: Path, small_sources: Path) -> None:
    round_trip(
        settings_at(tmp_path / "original", small_sources),
        settings_at(tmp_path / "restored", small_sources),
        tmp_path,
    )


@pytest.mark.timeout(900)
def test_postgres_round_trip(tmp_path: Path, small_sources: Path, pg_url: str) -> None:
    restored_url = pg_url + "_restored"
    try:
        round_trip(
            settings_at(tmp_path / "original", small_sources, target="postgres", pg_url=pg_url),
            settings_at(
                tmp_path / "restored", small_sources, target="postgres", pg_url=restored_url
            ),
            tmp_path,
        )
    finally:
        import psycopg

        with psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            name = restored_url.rsplit("/", 1)[1]
            admin.execute(f'drop database if exists "{name}" with (force)')


def test_a_backup_of_another_province_is_refused(tmp_path: Path) -> None:
    directory = tmp_path / "backup"
    directory.mkdir()
    (directory / backup.MANIFEST).write_text(
        '{"target": "duckdb", "province_code": "01", "tables": 3}'
    )
    with pytest.raises(BackupError, match="holds province 01"):
        backup.restore(Settings(home=tmp_path / "home", target="duckdb"), directory)
    with pytest.raises(BackupError, match="holds no backup"):
        backup.restore(Settings(home=tmp_path / "home", target="duckdb"), tmp_path)
