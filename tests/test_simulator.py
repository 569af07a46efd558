"""The simulated procedure system emits the national portal's sync format, deterministically."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path

import httpx

from simulator.api import serving
from simulator.generate import simulate
from simulator.units import load_province

SYNC_FIELDS = {
    "MaHoSo", "MaTTHC", "TenTTHC", "MaLinhVuc", "ChuHoSo", "LoaiDoiTuong", "NgayTiepNhan",
    "NgayHenTra", "NgayKetThucXuLy", "NgayTra", "TrangThaiHoSo", "KenhThucHien", "DonViXuLy",
    "DuocThanhToanTrucTuyen", "HoSoCoThanhPhanSoHoa", "TaiKhoanDuocXacThucVoiVNeID",
    "TaiLieuNop", "DanhSachLePhi", "DanhSachGiayToKetQua",
}  # fmt: skip
STAMP = re.compile(r"^\d{14}$")


def dossiers(out: Path) -> list[dict[str, object]]:
    lines = (out / "procedures" / "dossiers.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_dossiers_follow_the_national_sync_format(small_sources: Path) -> None:
    records = dossiers(small_sources)
    assert len(records) > 500
    communes = {c.code for c in load_province("37").communes}
    for record in records:
        assert record.keys() >= SYNC_FIELDS
        for name in ("NgayTiepNhan", "NgayHenTra", "NgayKetThucXuLy", "NgayTra"):
            value = record[name]
            if value is not None:
                assert STAMP.match(value), (name, value)
                datetime.strptime(value, "%Y%m%d%H%M%S")
        assert record["TrangThaiHoSo"] in range(1, 11)
        assert record["KenhThucHien"] in (None, 1, 2, 3)
        assert record["LoaiDoiTuong"] in (1, 2)
        assert record["DonViXuLy"] == "37" or record["DonViXuLy"] in communes
        assert record["NgayHenTra"] >= record["NgayTiepNhan"]
        for document in record["TaiLieuNop"]:
            assert {"DuocSoHoa", "DuocTaiSuDung"} <= document.keys()
    assert len({r["MaHoSo"] for r in records}) == len(records)
    channels = {r["KenhThucHien"] for r in records}
    assert {None, 1, 2} <= channels


def test_catalogue_reproduces_the_provinces_online_share(small_sources: Path) -> None:
    catalogue = json.loads((small_sources / "procedures" / "catalogue.json").read_text())
    online = sum(p["MucDoDVC"] != "khong" for p in catalogue)
    assert (len(catalogue), online) == (1877, 1685)
    assert round(100 * online / len(catalogue), 1) == 89.8


def test_same_seed_gives_the_same_bytes(tmp_path: Path) -> None:
    def digest(out: Path) -> str:
        simulate(out, scale=0.002, seed=3)
        return hashlib.sha256((out / "procedures" / "dossiers.jsonl").read_bytes()).hexdigest()

    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    simulate(tmp_path / "c", scale=0.002, seed=4)
    other = (tmp_path / "c" / "procedures" / "dossiers.jsonl").read_bytes()
    assert hashlib.sha256(other).hexdigest() != digest(tmp_path / "a")


def test_api_pages_through_every_dossier_in_update_order(small_sources: Path) -> None:
    expected = dossiers(small_sources)
    with serving(small_sources, port=0) as url:
        seen: list[dict[str, object]] = []
        cursor = None
        while True:
            params = {"limit": "250"} | ({"cursor": cursor} if cursor else {})
            body = httpx.get(f"{url}/api/dossiers", params=params).json()
            seen += body["data"]
            cursor = body["next_cursor"]
            if not cursor:
                break
        keys = [(r["NgayCapNhat"], r["MaHoSo"]) for r in seen]
        assert keys == sorted(keys)
        assert sorted(r["MaHoSo"] for r in seen) == sorted(r["MaHoSo"] for r in expected)

        since = keys[len(keys) // 2][0]
        recent = httpx.get(
            f"{url}/api/dossiers", params={"updated_since": since, "limit": "10000"}
        ).json()["data"]
        assert recent and all(r["NgayCapNhat"] >= since for r in recent)
        assert len(recent) == sum(k[0] >= since for k in keys)

        bad = httpx.get(f"{url}/api/dossiers", params={"updated_since": "2025-07-01"})
        assert bad.status_code == 400
