"""Personal data stops at the landing zone: not in rejected records, not in the readers' copy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core.settings import Settings
from core.warehouse import publish_serving_copy, session
from ingestion.documents import contracts as document_contracts
from ingestion.privacy import PERSONAL_ELEMENTS, PERSONAL_KEYS, REDACTED, redact
from ingestion.procedures import contracts as procedure_contracts

APPLICANT = {
    "MaHoSo": "000.00.12.H37-250101-0001",
    "ChuHoSo": "Nguyễn Văn An",
    "SoDienThoaiChuHoSo": "0912345678",
    "EmailChuHoSo": "an.nguyen@example.vn",
    "SoGiayToChuHoSo": "036085001234",
    "NgayCapNhat": "20250101080000",
}


def test_a_rejected_dossier_keeps_its_key_and_loses_its_applicant() -> None:
    text = redact(json.dumps(APPLICANT, ensure_ascii=False))
    kept = json.loads(text)
    assert kept["MaHoSo"] == APPLICANT["MaHoSo"]
    assert kept["NgayCapNhat"] == APPLICANT["NgayCapNhat"]
    for field in ("ChuHoSo", "SoDienThoaiChuHoSo", "EmailChuHoSo", "SoGiayToChuHoSo"):
        assert kept[field] == REDACTED


@pytest.mark.parametrize(
    "payload",
    [
        # cut in the middle of the applicant's name: JSON that does not parse
        '{"MaHoSo":"X-1","ChuHoSo":"Nguyễn Văn An","SoDienThoaiChuHoSo":"0912345678","Ema',
        '{"MaHoSo": "X-1", "ChuHoSo": "Nguy\\u1ec5n V\\u0103n An", "SoGiayToChuHoSo": 36085001234}',
        '{"MaHoSo":"X-1","ChuHoSo":"Nguyễn Văn An',  # the value itself cut off
        "<edXML:SignerInfo><edXML:FullName>Nguyễn Văn An</edXML:FullName></edXML:SignerInfo>",
        '<ns0:StaffInfo><ns0:Staff id="1">Nguyễn Văn An</ns0:Staff></ns0:StaffInfo>',
        "<FullName>Nguyễn Văn An",  # an XML message cut off
        # a line of free text: phones, e-mails and identity numbers are found by their shape
        "X-1;FullName;+84 912 345 678;an.nguyen@example.vn;036085001234",
    ],
)
def test_personal_values_are_removed_from_any_text(payload: str) -> None:
    text = redact(payload)
    for value in ("Nguyễn Văn An", "Nguy\\u1ec5n", "912", "an.nguyen", "36085001234"):
        assert value not in text, (payload, text)
    assert "X-1" in text or "FullName" in text or "Staff" in text


def test_codes_dates_and_amounts_are_kept() -> None:
    text = '{"MaHoSo":"000.00.12.H37-250101-0001","NgayTiepNhan":"20250101080000","SoTien":150000}'
    assert redact(text) == text


def test_every_personal_field_of_every_contract_is_redacted() -> None:
    contracts = (procedure_contracts.DOSSIER_CONTRACT, procedure_contracts.EVENT_CONTRACT)
    for contract in contracts:
        assert set(contract.personal_fields) <= set(PERSONAL_KEYS), contract.source
    for contract in (document_contracts.MESSAGE_CONTRACT, document_contracts.STATUS_CONTRACT):
        for field in contract.fields:
            if field.personal:  # described by its place in the message, e.g. SignerInfo/FullName
                element = field.description.rsplit("/", 1)[-1]
                assert element in PERSONAL_ELEMENTS, (contract.source, field.name)


# -- on a simulated province with injected faults -----------------------------------------------

PHONE_OR_ID = re.compile(r"(?<![\w.])(?:\+84|0)\d{9}(?!\w)|(?<![\w.])(?:\d{12}|\d{9})(?![\w.])")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def personal_values(sources: Path) -> set[str]:
    """The applicants' names, phones, e-mails and identity numbers the simulator wrote."""
    values = set()
    text = (sources / "procedures" / "dossiers.jsonl").read_text(errors="replace")
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # a line spoiled on purpose
            continue
        if isinstance(record, dict):
            values |= {str(record.get(f) or "") for f in procedure_contracts.PERSONAL_FIELDS}
    return {v for v in values if len(v) >= 6}


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_no_personal_data_in_the_warehouse_readers_can_query(tmp_path: Path) -> None:
    """A faulty province-quarter through ingestion: rejected records keep no personal value,
    and the readers' copy holds the marts alone (no raw layer, no ops ledger)."""
    from conftest import SMALL_WINDOW

    from govdata.pipeline import ingest
    from govdata.simulation import sources_for
    from simulator.generate import simulate

    faulty = tmp_path / "sources"
    simulate(faulty, scale=0.003, seed=11, start=SMALL_WINDOW[0], end=SMALL_WINDOW[1],
             fault_rate=0.05)  # fmt: skip
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir()
    (settings.home / "sources").symlink_to(faulty, target_is_directory=True)
    with sources_for(settings) as reading:
        ingest(reading)
    values = personal_values(faulty)
    assert values
    with session(settings) as warehouse:
        rejected = warehouse.fetch("select source, record_key, payload from ops.rejected_records")
        # a stand-in for the marts, enough to see what the copy keeps
        warehouse.execute("create schema if not exists marts")
        warehouse.execute("create or replace table marts.sample as select 1 as figure")
    assert len(rejected) > 50
    leaks = [
        (source, key, value)
        for source, key, payload in rejected
        for value in values
        if value in payload
    ]
    assert not leaks, leaks[:5]
    patterns = [(s, k, p) for s, k, p in rejected if PHONE_OR_ID.search(p) or EMAIL.search(p)]
    assert not patterns, patterns[:5]

    copy = publish_serving_copy(settings)
    assert copy is not None
    import duckdb

    with duckdb.connect(str(copy), read_only=True) as readers:
        schemas = {
            row[0]
            for row in readers.execute(
                "select distinct table_schema from information_schema.tables"
            ).fetchall()
        }
    assert schemas == {"marts"}


def test_the_landing_zone_is_readable_by_the_platform_alone(tmp_path: Path) -> None:
    import pyarrow as pa

    from ingestion import landing

    settings = Settings(home=tmp_path)
    path = landing.land(settings, "procedures.dossiers", "run-1", 0, pa.table({"payload": [b"x"]}))
    assert path.stat().st_mode & 0o777 == 0o600
    for level in (path.parent, path.parent.parent, settings.landing_dir):
        assert level.stat().st_mode & 0o777 == 0o700, level
