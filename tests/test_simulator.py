"""The simulated procedure system: the national portal's sync format, the 2025 merger,
determinism, a complete fault manifest and memory that stays flat as the scale grows."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import subprocess
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest

from simulator.agencies import build_agencies
from simulator.api import serving
from simulator.generate import write_system
from simulator.procedures import write_procedure_system
from simulator.units import MERGER_DATE, load_region

SYNC_FIELDS = {
    "MaHoSo", "MaTTHC", "TenTTHC", "MaLinhVuc", "ChuHoSo", "LoaiDoiTuong", "NgayTiepNhan",
    "NgayHenTra", "NgayKetThucXuLy", "NgayTra", "TrangThaiHoSo", "KenhThucHien", "DonViXuLy",
    "DuocThanhToanTrucTuyen", "HoSoCoThanhPhanSoHoa", "TaiKhoanDuocXacThucVoiVNeID",
    "TaiLieuNop", "DanhSachLePhi", "DanhSachGiayToKetQua", "NgayCapNhat",
}  # fmt: skip
EVENT_FIELDS = {"MaHoSo", "TrangThai", "ThoiDiemXuLy", "PhongBanXuLy", "NguoiXuLy"}
STAMP = re.compile(r"^\d{14}$")
WINDOW = (date(2025, 5, 15), date(2025, 8, 15))  # crosses the merger


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def parse(stamp: object) -> datetime:
    assert isinstance(stamp, str) and STAMP.match(stamp), stamp
    return datetime.strptime(stamp, "%Y%m%d%H%M%S")


def generate(out: Path, seed: int = 5, scale: float = 0.01, fault_rate: float = 0.0) -> None:
    write_system(write_procedure_system, out, seed, scale, *WINDOW, fault_rate)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    generate(out)
    return out


def test_dossiers_follow_the_national_sync_format(clean: Path) -> None:
    region = load_region("37")
    agencies = {(a.code, a.valid_to is None): a for a in build_agencies(region)}
    catalogue = {p["MaTTHC"] for p in json.loads((clean / "procedures/catalogue.json").read_text())}
    versions = lines(clean / "procedures" / "dossiers.jsonl")
    assert len(versions) > 1000
    for record in versions:
        assert record.keys() >= SYNC_FIELDS
        received = parse(record["NgayTiepNhan"])
        assert parse(record["NgayHenTra"]) >= received
        assert parse(record["NgayCapNhat"]) >= received
        for name in ("NgayKetThucXuLy", "NgayTra"):
            if record[name] is not None:
                assert parse(record[name]) >= received
        assert record["TrangThaiHoSo"] in range(1, 11)
        assert record["KenhThucHien"] in (None, 1, 2, 3)
        assert record["LoaiDoiTuong"] in (1, 2)
        assert record["MaTTHC"] in catalogue
        # Before 1 July 2025 the old provinces' agencies handle dossiers, after it the new one's.
        agency = agencies[(record["DonViXuLy"], received.date() >= MERGER_DATE)]
        assert agency.in_force(received.date())
        for document in record["TaiLieuNop"]:
            assert {"DuocSoHoa", "DuocTaiSuDung"} <= document.keys()
        for fee in record["DanhSachLePhi"]:
            assert 0 <= fee["SoTien"] <= 10**9
    provinces = {r["DonViXuLy"][-3:] for r in versions if r["NgayTiepNhan"] < "20250701"}
    assert provinces == {"H35", "H36", "H37"}  # Hà Nam, Nam Định, Ninh Bình before the merger
    assert {r["KenhThucHien"] for r in versions} >= {None, 1, 2, 3}
    statuses = Counter(r["TrangThaiHoSo"] for r in versions)
    assert all(statuses[s] > 0 for s in (2, 3, 4, 7, 9, 10)), statuses
    # A dossier whose state changed was pushed again with a newer update time.
    by_code: dict[str, list[str]] = {}
    for record in versions:
        by_code.setdefault(str(record["MaHoSo"]), []).append(str(record["NgayCapNhat"]))
    assert sum(len(stamps) > 1 for stamps in by_code.values()) > len(by_code) / 2


def test_progress_events_tell_each_dossiers_story(clean: Path) -> None:
    events = lines(clean / "procedures" / "events.jsonl")
    codes = {str(r["MaHoSo"]) for r in lines(clean / "procedures" / "dossiers.jsonl")}
    stories: dict[str, list[tuple[datetime, int]]] = {}
    for event in events:
        assert event.keys() == EVENT_FIELDS
        assert event["TrangThai"] in range(1, 11)
        stories.setdefault(str(event["MaHoSo"]), []).append(
            (parse(event["ThoiDiemXuLy"]), int(event["TrangThai"]))
        )
    assert stories.keys() == codes
    for story in stories.values():
        assert story == sorted(story, key=lambda e: e[0])  # in time order, no fault injected
        assert {2, 3} & {status for _, status in story}  # received, or refused at reception
    supplements = [s for s in stories.values() if 5 in {status for _, status in s}]
    assert supplements, "some dossiers wait for the citizen to supplement them"


def test_catalogue_reproduces_the_provinces_online_share(clean: Path) -> None:
    catalogue = json.loads((clean / "procedures" / "catalogue.json").read_text())
    online = sum(p["MucDoDVC"] != "khong" for p in catalogue)
    assert (len(catalogue), online) == (1877, 1685)
    assert round(100 * online / len(catalogue), 1) == 89.8


def test_same_seed_gives_the_same_bytes(tmp_path: Path, clean: Path) -> None:
    def digests(out: Path) -> list[str]:
        return [
            hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted((out / "procedures").iterdir())
        ]

    generate(tmp_path / "again")
    assert digests(tmp_path / "again") == digests(clean)
    generate(tmp_path / "other", seed=6)
    assert digests(tmp_path / "other")[1:] != digests(clean)[1:]


def test_the_fault_manifest_lists_every_spoiled_record(tmp_path: Path, clean: Path) -> None:
    """Faults draw from their own stream: a faulty export is the clean one plus the faults, so
    every line that differs from the clean export must be in the manifest, and vice versa."""
    generate(tmp_path, fault_rate=0.03)
    manifest = [json.loads(line) for part in sorted((tmp_path / "faults").glob("*.jsonl"))
                for line in part.read_text().splitlines()]  # fmt: skip
    kinds = Counter((entry["source"], entry["kind"]) for entry in manifest)
    for name, source, key_of in (
        ("dossiers", "procedures.dossiers", lambda r: f"{r['MaHoSo']}|{r['NgayCapNhat']}"),
        ("events", "procedures.events",
         lambda r: f"{r['MaHoSo']}|{r['TrangThai']}|{r['ThoiDiemXuLy']}"),
    ):  # fmt: skip
        good = (clean / "procedures" / f"{name}.jsonl").read_bytes().splitlines()
        faulty = (tmp_path / "procedures" / f"{name}.jsonl").read_bytes().splitlines()
        listed = Counter(e["record_key"] for e in manifest if e["source"] == source)
        duplicates = sum(1 for e in manifest if e["source"] == source and e["kind"] == "duplicate")
        assert len(faulty) == len(good) + duplicates
        good_lines = set(good)
        spoiled = Counter()
        position = 0
        for line in faulty:
            if line in good_lines and line == good[position]:
                position += 1
                continue
            if position and line == good[position - 1]:
                spoiled[key_of(json.loads(good[position - 1]))] += 1  # the duplicate copy
                continue
            spoiled[key_of(json.loads(good[position]))] += 1
            position += 1
        assert spoiled == listed, source
    assert {kind for (_, kind) in kinds} >= {
        "malformed_date", "impossible_date", "unknown_procedure", "unknown_unit", "duplicate",
        "missing_field", "wrong_encoding", "absurd_value", "out_of_order_event",
    }  # fmt: skip


def test_api_pages_through_versions_with_a_clock(clean: Path) -> None:
    expected = lines(clean / "procedures" / "dossiers.jsonl")
    midpoint = "20250710120000"
    with serving(clean, port=0) as url:

        def fetch(**params: str) -> list[dict[str, object]]:
            seen, cursor = [], None
            while True:
                query = {"limit": "300", **params} | ({"cursor": cursor} if cursor else {})
                body = httpx.get(f"{url}/api/dossiers", params=query).json()
                seen += body["data"]
                if not (cursor := body["next_cursor"]):
                    return seen

        everything = fetch()
        stamps = [str(r["NgayCapNhat"]) for r in everything]
        assert stamps == sorted(stamps) and len(everything) == len(expected)
        earlier = fetch(as_of=midpoint)
        assert earlier and all(str(r["NgayCapNhat"]) <= midpoint for r in earlier)
        later = fetch(updated_since=midpoint)
        assert len(earlier) + len(later) >= len(everything)
        # A dossier seen open at midpoint comes back later with a newer update time.
        open_then = {r["MaHoSo"] for r in earlier if r["TrangThaiHoSo"] in (2, 4, 5, 6)}
        assert open_then & {r["MaHoSo"] for r in later}
        assert httpx.get(f"{url}/api/events", params={"limit": "5"}).json()["data"]
        bad = httpx.get(f"{url}/api/dossiers", params={"updated_since": "2025-07-01"})
        assert bad.status_code == 400


def test_agencies_reuse_codes_across_the_merger() -> None:
    agencies = build_agencies(load_region("37"))
    by_code: dict[str, list[str]] = {}
    for agency in agencies:
        by_code.setdefault(agency.code, []).append(agency.name)
    reused = {code: names for code, names in by_code.items() if len(set(names)) > 1}
    assert reused, "the merged province reuses old agency codes for other agencies"
    assert all(re.match(r"^\d{3}\.\d{2}\.\d{2}\.H\d{2}$", a.code) for a in agencies)


PEAK_MEMORY = """
import resource, sys
from datetime import date
from pathlib import Path
from simulator.generate import simulate
simulate(Path(sys.argv[1]), scale=float(sys.argv[2]), seed=1,
         start=date(2025, 9, 1), end=date(2025, 9, 30))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


@pytest.mark.slow  # simulates several scales: half a minute
def test_memory_stays_flat_as_the_scale_grows(tmp_path: Path) -> None:
    """All three systems, in both processes: ten times the records, the same peak."""

    def peaks_kib(scale: float) -> tuple[int, int]:
        done = subprocess.run(
            [sys.executable, "-c", PEAK_MEMORY, str(tmp_path / str(scale)), str(scale)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        main, worker = done.stdout.split()[-2:]
        return int(main), int(worker)

    small, large = peaks_kib(0.02), peaks_kib(0.2)
    summary = json.loads((tmp_path / "0.2" / "summary.json").read_text())["counts"]["totals"]
    assert summary["procedures.dossier_versions"] > 20_000
    assert summary["documents.status"] > 50_000
    for process, before, after in zip(("main", "worker"), small, large, strict=True):
        assert after < before * 1.15, f"{process}: {before} KiB at scale 0.02, {after} at 0.2"


def test_agency_directory_is_exported(tmp_path: Path) -> None:
    from simulator.generate import write_agencies

    write_agencies(tmp_path, build_agencies(load_region("37")))
    rows = list(csv.DictReader((tmp_path / "reference" / "agencies.csv").open()))
    assert {r["LoaiCoQuan"] for r in rows} == {
        "province_committee", "department", "service_centre", "district_committee",
        "commune_committee",
    }  # fmt: skip


@pytest.mark.parametrize("code", ["31", "44", "48", "51", "79"])
def test_an_island_district_without_communes_has_no_commune_without_a_unit(code: str) -> None:
    """Bạch Long Vĩ, Cồn Cỏ, Hoàng Sa, Lý Sơn and Côn Đảo have no commune in the legacy list:
    every commune and commune agency the simulator makes has a code and a name."""
    from simulator.agencies import build_agencies
    from simulator.units import load_region

    region = load_region(code)
    assert all(c.code and c.name for c in region.old_communes)
    assert all(a.unit_code for a in build_agencies(region))
