"""The province's administrative-procedure system: its catalogue and the dossiers filed.

Dossiers are emitted as the national public-service portal's sync payloads (service
``DongBoHoSoMC``): Vietnamese field names, status codes and ``yyyyMMddHHmmss`` local times,
exactly what a real one-stop system exports, so connectors written against the simulator
work on real exports.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from simulator.calendar import WorkingCalendar, at
from simulator.units import Province

TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"

# Status codes of the national portal (TrangThaiHoSo).
REGISTERED, RECEIVED, REFUSED, IN_PROCESS, SUPPLEMENT, PAYMENT = 1, 2, 3, 4, 5, 6
WITHDRAWN, STOPPED, DONE, RETURNED = 7, 8, 9, 10

# Channels (KenhThucHien): 1 in person, 2 online, 3 postal.
IN_PERSON, ONLINE, POSTAL = 1, 2, 3

FIELDS = (
    ("G01", "Tư pháp", "Chứng thực bản sao"),
    ("G02", "Hộ tịch", "Đăng ký khai sinh"),
    ("G03", "Đất đai", "Cấp giấy chứng nhận quyền sử dụng đất"),
    ("G04", "Xây dựng", "Cấp giấy phép xây dựng"),
    ("G05", "Đăng ký kinh doanh", "Đăng ký hộ kinh doanh"),
    ("G06", "Lao động", "Giải quyết trợ cấp thất nghiệp"),
    ("G07", "Giáo dục", "Chuyển trường"),
    ("G08", "Y tế", "Cấp chứng chỉ hành nghề"),
    ("G09", "Giao thông vận tải", "Cấp giấy phép lái xe"),
    ("G10", "Tài nguyên môi trường", "Đăng ký kế hoạch bảo vệ môi trường"),
    ("G11", "Văn hóa", "Cấp phép tổ chức lễ hội"),
    ("G12", "Bảo trợ xã hội", "Trợ cấp xã hội hằng tháng"),
)

FAMILY_NAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô")
MIDDLE_NAMES = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Thu", "Ngọc", "Quang")
GIVEN_NAMES = ("An", "Bình", "Chi", "Dũng", "Hà", "Hùng", "Lan", "Mai", "Nam", "Phương", "Tú")
BUSINESS_PREFIXES = ("Công ty TNHH", "Công ty Cổ phần", "Hợp tác xã", "Doanh nghiệp tư nhân")


@dataclass(frozen=True, slots=True)
class Procedure:
    """One entry of the province's procedure catalogue (TTHC)."""

    MaTTHC: str
    TenTTHC: str
    MaLinhVuc: str
    TenLinhVuc: str
    CapThucHien: str  # "tinh" (province) or "xa" (commune)
    MucDoDVC: str  # "toan_trinh" (full-process online), "mot_phan" (partial) or "khong"
    ThoiHanGiaiQuyet: int  # legal processing time, working days
    CoPhiLePhi: bool
    YeuCauKetQuaDienTu: bool


def build_catalogue(rng: random.Random, size: int = 1877, online: int = 1685) -> list[Procedure]:
    """A catalogue of ``size`` procedures, ``online`` of them with an online service."""
    if not 0 <= online <= size:
        raise ValueError("online procedures must be between 0 and the catalogue size")
    online_flags = [True] * online + [False] * (size - online)
    rng.shuffle(online_flags)
    catalogue = []
    for index, is_online in enumerate(online_flags):
        field_code, field_name, stem = FIELDS[index % len(FIELDS)]
        mode = ("toan_trinh" if rng.random() < 0.55 else "mot_phan") if is_online else "khong"
        catalogue.append(
            Procedure(
                MaTTHC=f"1.{index + 1:06d}",
                TenTTHC=f"{stem} (thủ tục số {index + 1})",
                MaLinhVuc=field_code,
                TenLinhVuc=field_name,
                CapThucHien="xa" if rng.random() < 0.35 else "tinh",
                MucDoDVC=mode,
                ThoiHanGiaiQuyet=rng.choice((1, 2, 3, 5, 7, 10, 15, 20)),
                CoPhiLePhi=rng.random() < 0.45,
                YeuCauKetQuaDienTu=rng.random() < 0.8,
            )
        )
    return catalogue


def _stamp(moment: datetime | None) -> str | None:
    return moment.strftime(TIMESTAMP_FORMAT) if moment else None


class DossierGenerator:
    """Streams dossiers filed in a province between two dates, deterministically for a seed."""

    DOSSIERS_PER_YEAR_AT_SCALE_1 = 1_000_000

    def __init__(
        self,
        province: Province,
        catalogue: list[Procedure],
        calendar: WorkingCalendar,
        rng: random.Random,
        scale: float,
        as_of: datetime,
    ) -> None:
        self.province = province
        self.catalogue = catalogue
        self.commune_catalogue = [p for p in catalogue if p.CapThucHien == "xa"]
        self.province_catalogue = [p for p in catalogue if p.CapThucHien == "tinh"]
        self.calendar = calendar
        self.rng = rng
        self.daily_mean = scale * self.DOSSIERS_PER_YEAR_AT_SCALE_1 / 250  # per working day
        self.as_of = as_of

    def online_share(self, day: date) -> float:
        """Online filing grows steadily, with a dip in the months after the 2025 merger."""
        months = (day.year - 2024) * 12 + day.month - 7
        share = 0.35 + 0.012 * months
        if date(2025, 7, 1) <= day < date(2025, 10, 1):
            share -= 0.08
        return min(max(share, 0.05), 0.9)

    def dossiers(
        self, start: date, end: date, on_day: Callable[[date], None] | None = None
    ) -> Iterator[dict[str, object]]:
        day = start
        while day <= end:
            if on_day:
                on_day(day)
            if self.calendar.is_working_day(day):
                count = self._poisson(self.daily_mean)
                for sequence in range(1, count + 1):
                    yield self._dossier(day, sequence)
            day += timedelta(days=1)

    def _poisson(self, mean: float) -> int:
        if mean > 50:  # the normal approximation is fine and much faster at scale
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        limit, product, count = math.exp(-mean), self.rng.random(), 0
        while product > limit:
            product *= self.rng.random()
            count += 1
        return count

    def _dossier(self, day: date, sequence: int) -> dict[str, object]:
        rng = self.rng
        at_commune = rng.random() < 0.6
        if at_commune:
            commune = rng.choice(self.province.communes)
            procedure = rng.choice(self.commune_catalogue)
            unit_code = commune.code
        else:
            procedure = rng.choice(self.province_catalogue)
            unit_code = self.province.code
        received = at(day, rng.randint(7, 16), rng.randint(0, 59), rng.randint(0, 59))
        due = at(self.calendar.add_working_days(day, procedure.ThoiHanGiaiQuyet), 17)

        share = self.online_share(day) * (1.1 if not at_commune else 0.85)
        roll = rng.random()
        if procedure.MucDoDVC != "khong" and roll < share:
            channel: int | None = ONLINE
        elif roll > 0.97:
            channel = POSTAL
        else:
            channel = None if rng.random() < 0.05 else IN_PERSON

        status, finished, returned = self._outcome(received, day, procedure)
        business = rng.random() < 0.2
        applicant = self._applicant(business)
        fees = (
            [{"MaPhiLePhi": "LP01", "SoTien": rng.choice((0, 20_000, 50_000, 100_000))}]
            if procedure.CoPhiLePhi
            else []
        )
        paid_online = bool(fees) and channel == ONLINE and rng.random() < 0.6
        documents = [
            {
                "TenTaiLieu": f"Thành phần {n}",
                "DuocSoHoa": rng.random() < 0.7,
                "DuocTaiSuDung": rng.random() < 0.15,
            }
            for n in range(1, rng.randint(1, 4) + 1)
        ]
        results = (
            [{"TenGiayTo": "Kết quả giải quyết", "CoTepDienTu": rng.random() < 0.75}]
            if status in (DONE, RETURNED) and procedure.YeuCauKetQuaDienTu
            else []
        )
        updated = max(filter(None, (received, finished, returned)))
        return {
            "MaHoSo": f"{unit_code}-{day:%y%m%d}-{sequence:06d}",
            "MaTTHC": procedure.MaTTHC,
            "TenTTHC": procedure.TenTTHC,
            "MaLinhVuc": procedure.MaLinhVuc,
            "ChuHoSo": applicant["name"],
            "SoDienThoaiChuHoSo": applicant["phone"],
            "EmailChuHoSo": applicant["email"],
            "SoGiayToChuHoSo": applicant["identity"],
            "LoaiDoiTuong": 2 if business else 1,
            "NgayTiepNhan": _stamp(received),
            "NgayHenTra": _stamp(due),
            "NgayKetThucXuLy": _stamp(finished),
            "NgayTra": _stamp(returned),
            "TrangThaiHoSo": status,
            "KenhThucHien": channel,
            "DonViXuLy": unit_code,
            "DuocThanhToanTrucTuyen": paid_online,
            "HoSoCoThanhPhanSoHoa": any(d["DuocSoHoa"] for d in documents),
            "TaiKhoanDuocXacThucVoiVNeID": channel == ONLINE and rng.random() < 0.8,
            "TaiLieuNop": documents,
            "DanhSachLePhi": fees,
            "DanhSachGiayToKetQua": results,
            "NgayCapNhat": _stamp(updated),
        }

    def _outcome(
        self, received: datetime, day: date, procedure: Procedure
    ) -> tuple[int, datetime | None, datetime | None]:
        """Final status, end of processing and return of the result, as known ``as_of``."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.02:
            return REFUSED, received + timedelta(hours=rng.randint(1, 6)), None
        if roll < 0.04:
            moment = at(self.calendar.add_working_days(day, rng.randint(0, 3)), 10)
            return (WITHDRAWN, moment, None) if moment <= self.as_of else (IN_PROCESS, None, None)
        late = rng.random() < 0.07
        extra = rng.randint(1, 5) if late else -rng.randint(0, procedure.ThoiHanGiaiQuyet - 1)
        working_days = max(0, procedure.ThoiHanGiaiQuyet + extra)
        finished = at(self.calendar.add_working_days(day, working_days), rng.randint(8, 16))
        if finished > self.as_of:
            return IN_PROCESS, None, None
        returned = finished + timedelta(hours=rng.randint(1, 48))
        if returned > self.as_of:
            return DONE, finished, None
        return RETURNED, finished, returned

    def _applicant(self, business: bool) -> dict[str, str]:
        rng = self.rng
        person = " ".join(
            (rng.choice(FAMILY_NAMES), rng.choice(MIDDLE_NAMES), rng.choice(GIVEN_NAMES))
        )
        name = f"{rng.choice(BUSINESS_PREFIXES)} {person}" if business else person
        return {
            "name": name,
            "phone": f"09{rng.randint(0, 99_999_999):08d}",
            "email": f"nguoidan{rng.randint(1, 9_999_999)}@example.vn",
            "identity": f"0{rng.randint(0, 99_999_999_999):011d}",
        }


def write_procedure_system(
    out: Path,
    province: Province,
    calendar: WorkingCalendar,
    seed: int,
    scale: float,
    start: date,
    end: date,
    on_day: Callable[[date], None] | None = None,
) -> dict[str, int]:
    """Write the catalogue and the dossiers under ``out/procedures``; return counts."""
    directory = out / "procedures"
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"procedures-{seed}")
    catalogue = build_catalogue(rng)
    with (directory / "catalogue.json").open("w", encoding="utf-8") as handle:
        json.dump([asdict(p) for p in catalogue], handle, ensure_ascii=False, indent=1)

    as_of = at(end, 23, 59, 59)
    generator = DossierGenerator(province, catalogue, calendar, rng, scale, as_of)
    count = 0
    with (directory / "dossiers.jsonl").open("w", encoding="utf-8") as handle:
        for dossier in generator.dossiers(start, end, on_day):
            handle.write(json.dumps(dossier, ensure_ascii=False, separators=(",", ":")))
            handle.write("\n")
            count += 1
    return {"procedures": len(catalogue), "dossiers": count}
