"""The document KPIs do not depend on how the exchange packs its messages: the marts built
from the daily zips of ``.edxml`` files equal those built from the line-packed gzips made
with the same seed (a whole warehouse twice: slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import Settings
from simulator.generate import simulate
from tests.conftest import SMALL_WINDOW
from tests.test_warehouse_build import build_on

DOCUMENT_MARTS = ("marts.fct_document", "marts.fct_document_status", "marts.kpi_unit_month")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_document_marts_are_the_same_from_zips_and_from_lines(
    tmp_path: Path, small_sources: Path
) -> None:
    lines = tmp_path / "lines-sources"
    simulate(lines, scale=0.005, seed=7, start=SMALL_WINDOW[0], end=SMALL_WINDOW[1],
             documents_container="lines")  # fmt: skip
    assert next((small_sources / "documents").iterdir()).joinpath("documents.edxml.zip").exists()
    marts = {}
    for name, sources in (("zip", small_sources), ("lines", lines)):
        settings = Settings(home=tmp_path / name, target="duckdb", pii_hash_key="same-key")
        built = build_on(settings, sources)
        marts[name] = {table: built[table] for table in DOCUMENT_MARTS}
    assert all(marts["zip"].values())
    for table in DOCUMENT_MARTS:
        assert marts["zip"][table] == marts["lines"][table], table
