"""The province's administrative-procedure system: its catalogue, dossiers and their progress.

Dossiers are emitted as the national public-service portal's sync payloads (service
``DongBoHoSoMC``): Vietnamese field names, status codes and ``yyyyMMddHHmmss`` local times,
so connectors written against the simulator work on real exports. The one-stop system pushes
a dossier again each time its state changes, so ``dossiers.jsonl`` holds every version pushed
(``NgayCapNhat`` is the push time), and ``events.jsonl`` the progress events
(``CapNhatTienDoHoSoMC``). Both are written in generation order, one JSON object per line.

The lifecycle follows the portal's status codes: registration online (1), reception (2) or
refusal at reception (3), processing (4), supplement requests (5) that stop the clock until the
citizen answers, payment requests (6), withdrawal by the citizen (7), stop (8), done (9) and
result returned (10). Durations are counted in Vietnamese working days.

Before 1 July 2025 dossiers are handled by the old provinces' agencies (departments, district
and commune committees); after it by the merged province's, with district-level procedures
moved to the communes.
"""

from __future__ import annotations

import json
import math
import random
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import orjson

from simulator import faults as fault_kinds
from simulator.agencies import Agency
from simulator.calendar import WorkingCalendar, at
from simulator.counts import MonthlyCounts
from simulator.faults import FaultInjector
from simulator.units import MERGER_DATE, Region

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
LEVELS = (("tinh", 0.55), ("huyen", 0.2), ("xa", 0.25))

FAMILY_NAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô")
MIDDLE_NAMES = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Thu", "Ngọc", "Quang")
GIVEN_NAMES = ("An", "Bình", "Chi", "Dũng", "Hà", "Hùng", "Lan", "Mai", "Nam", "Phương", "Tú")
BUSINESS_PREFIXES = ("Công ty TNHH", "Công ty Cổ phần", "Hợp tác xã", "Doanh nghiệp tư nhân")
DEPARTMENT_UNITS = ("Bộ phận một cửa", "Phòng chuyên môn", "Lãnh đạo", "Văn thư")

DOSSIER_FAULTS = (
    fault_kinds.MALFORMED_DATE,
    fault_kinds.IMPOSSIBLE_DATE,
    fault_kinds.UNKNOWN_PROCEDURE,
    fault_kinds.UNKNOWN_UNIT,
    fault_kinds.DUPLICATE,
    fault_kinds.MISSING_FIELD,
    fault_kinds.WRONG_ENCODING,
    fault_kinds.ABSURD_VALUE,
)
EVENT_FAULTS = (
    fault_kinds.OUT_OF_ORDER_EVENT,
    fault_kinds.MALFORMED_DATE,
    fault_kinds.MISSING_FIELD,
    fault_kinds.DUPLICATE,
    fault_kinds.ABSURD_VALUE,
)


@dataclass(frozen=True, slots=True)
class Procedure:
    """One entry of the province's procedure catalogue (TTHC)."""

    MaTTHC: str
    TenTTHC: str
    MaLinhVuc: str
    TenLinhVuc: str
    CapThucHien: str  # "tinh" (province), "huyen" (district until 30/6/2025) or "xa" (commune)
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
    levels, weights = zip(*LEVELS, strict=True)
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
                CapThucHien=rng.choices(levels, weights)[0],
                MucDoDVC=mode,
                ThoiHanGiaiQuyet=rng.choice((1, 2, 3, 5, 7, 10, 15, 20)),
                CoPhiLePhi=rng.random() < 0.45,
                YeuCauKetQuaDienTu=rng.random() < 0.8,
            )
        )
    return catalogue


def stamp(moment: datetime) -> str:
    """yyyyMMddHHmmss; formatted by hand, as strftime is the generator's hot spot."""
    return "%04d%02d%02d%02d%02d%02d" % (  # noqa: UP031
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )


def _months_since(day: date, origin: date) -> int:
    return (day.year - origin.year) * 12 + day.month - origin.month


@dataclass(slots=True)
class Handlers:
    """Who handles dossiers in one province (an old one before the merger, or the new one)."""

    communes: list[Agency]
    districts: list[Agency]
    departments: list[Agency]
    service_centre: Agency


class ProcedureSystem:
    """Streams the dossiers filed in a region between two dates, deterministic for a seed."""

    DOSSIERS_PER_YEAR_AT_SCALE_1 = 1_000_000

    def __init__(
        self,
        region: Region,
        agencies: list[Agency],
        catalogue: list[Procedure],
        calendar: WorkingCalendar,
        seed: int,
        scale: float,
        as_of: datetime,
    ) -> None:
        self.region = region
        self.catalogue = catalogue
        self.by_level = {
            level: [p for p in catalogue if p.CapThucHien == level] for level, _ in LEVELS
        }
        self.calendar = calendar
        self.rng = random.Random(f"procedures-{seed}")
        self.daily_mean = scale * self.DOSSIERS_PER_YEAR_AT_SCALE_1 / 250
        self.as_of = as_of
        old = [a for a in agencies if a.valid_to is not None]
        self.before = [
            self._handlers([a for a in old if a.province_code == p.code])
            for p in region.old_provinces
        ]
        # Old provinces file dossiers in proportion to their communes.
        self.before_weights = [len(h.communes) for h in self.before]
        self.after = self._handlers([a for a in agencies if a.valid_to is None])

    @staticmethod
    def _handlers(agencies: list[Agency]) -> Handlers:
        def kind(name: str) -> list[Agency]:
            return [a for a in agencies if a.kind == name]

        return Handlers(
            communes=kind("commune_committee"),
            districts=kind("district_committee"),
            departments=kind("department"),
            service_centre=kind("service_centre")[0],
        )

    # -- rates that move over time -------------------------------------------------------------

    def online_share(self, day: date, level: str) -> float:
        """Online filing grows, the province ahead of communes, with a dip after the merger."""
        months = _months_since(day, date(2024, 7, 1))
        share = (0.5 if level == "tinh" else 0.22) + 0.014 * months
        if MERGER_DATE <= day < date(2026, 1, 1):
            share -= 0.12 * max(0.0, 1 - _months_since(day, MERGER_DATE) / 6)
        return min(max(share, 0.03), 0.92)

    def late_share(self, day: date, level: str) -> float:
        base = 0.04 if level == "tinh" else 0.07
        if MERGER_DATE <= day < date(2025, 12, 1):
            base += 0.08 * max(0.0, 1 - _months_since(day, MERGER_DATE) / 5)
        return base

    def digitised_share(self, day: date) -> float:
        return min(0.35 + 0.025 * _months_since(day, date(2024, 7, 1)), 0.95)

    # -- generation ------------------------------------------------------------------------

    def days(self, start: date, end: date) -> Iterator[date]:
        day = start
        while day <= end:
            yield day
            day += timedelta(days=1)

    def daily_count(self, day: date) -> int:
        if not self.calendar.is_working_day(day):
            return 0
        mean = self.daily_mean * (1.15 if day.month in (3, 4, 10, 11) else 1.0)
        if mean > 50:  # the normal approximation is fine and much faster at scale
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        limit, product, count = math.exp(-mean), self.rng.random(), 0
        while product > limit:
            product *= self.rng.random()
            count += 1
        return count

    def randint(self, low: int, high: int) -> int:
        """random.randint's distribution family at a fraction of its cost (hot path)."""
        return low + int(self.rng.random() * (high - low + 1))

    def dossier(self, day: date, sequence: int) -> tuple[list[dict], list[dict]]:
        """One dossier: its pushed versions and its progress events, as known ``as_of``."""
        rng = self.rng
        randint = self.randint
        handlers = (
            rng.choices(self.before, self.before_weights)[0] if day < MERGER_DATE else self.after
        )
        level = rng.choices(("tinh", "huyen", "xa"), (0.4, 0.2, 0.4))[0]
        procedure = rng.choice(self.by_level[level])
        if level == "tinh":
            agency = handlers.departments[
                int(procedure.MaLinhVuc[1:]) * 7 % len(handlers.departments)
            ]
            reception_desk = handlers.service_centre
        elif level == "huyen" and handlers.districts:
            agency = rng.choice(handlers.districts)
            reception_desk = agency
        else:
            agency = rng.choice(handlers.communes)
            reception_desk = agency

        online_possible = procedure.MucDoDVC != "khong"
        share = self.online_share(day, level) * (1.0 if procedure.MucDoDVC == "toan_trinh" else 0.7)
        roll = rng.random()
        if online_possible and roll < share:
            channel: int | None = ONLINE
        elif roll > 0.97:
            channel = POSTAL
        else:
            channel = None if rng.random() < 0.04 else IN_PERSON

        received = at(day, randint(7, 16), randint(0, 59), randint(0, 59))
        legal_days = procedure.ThoiHanGiaiQuyet
        due = at(self.calendar.add_working_days(day, legal_days), 17)
        code = f"{agency.code}-{day:%y%m%d}-{sequence:06d}"
        business = rng.random() < 0.2

        events: list[tuple[int, datetime, Agency, str]] = []
        if channel == ONLINE:
            events.append((REGISTERED, received - timedelta(minutes=randint(5, 600)),
                           reception_desk, "Hệ thống"))  # fmt: skip
        refused = rng.random() < 0.02
        if refused:
            events.append((REFUSED, received, reception_desk, DEPARTMENT_UNITS[0]))
        else:
            events.append((RECEIVED, received, reception_desk, DEPARTMENT_UNITS[0]))
            events.append((IN_PROCESS, received + timedelta(minutes=randint(10, 240)),
                           agency, DEPARTMENT_UNITS[1]))  # fmt: skip

        fees = self._fees(procedure)
        paid_online = False
        if fees and any(f["SoTien"] for f in fees) and not refused:
            paid_online = channel == ONLINE and rng.random() < 0.55 + 0.01 * _months_since(
                day, date(2024, 7, 1)
            )
            events.append((PAYMENT, received + timedelta(minutes=randint(20, 300)), agency,
                           DEPARTMENT_UNITS[0]))  # fmt: skip

        finished: datetime | None = None
        final_status = REFUSED if refused else IN_PROCESS
        paused_days = 0
        if not refused:
            work_days = (
                legal_days + randint(1, 5)
                if rng.random() < self.late_share(day, level)
                else randint(max(0, legal_days // 3), legal_days)
            )
            if legal_days > 1 and rng.random() < 0.08:  # a supplement request stops the clock
                asked_day = self.calendar.add_working_days(day, randint(1, legal_days - 1))
                asked = at(asked_day, randint(8, 16), randint(0, 59))
                answered_day = asked_day + timedelta(days=randint(1, 20))
                answered = at(self.calendar.next_working_day(answered_day), randint(8, 16))
                events.append((SUPPLEMENT, asked, agency, DEPARTMENT_UNITS[1]))
                events.append((IN_PROCESS, answered, agency, DEPARTMENT_UNITS[1]))
                paused_days = self._working_days_between(asked_day, answered.date())
            end_roll = rng.random()
            end_day = self.calendar.add_working_days(day, work_days + paused_days)
            if end_roll < 0.015:
                final_status = WITHDRAWN
                end_day = self.calendar.add_working_days(day, randint(0, max(0, work_days)))
            elif end_roll < 0.025:
                final_status = STOPPED
            else:
                final_status = DONE
            finished = at(end_day, randint(8, 16), randint(0, 59))
            finished = max(finished, max(e[1] for e in events) + timedelta(minutes=5))
            events.append((final_status, finished, agency, DEPARTMENT_UNITS[2]))
            if final_status == DONE:
                # The result is handed back during office hours, the same day or a few later.
                back = self.calendar.add_working_days(finished.date(), randint(0, 3))
                returned = max(at(back, randint(8, 16), randint(0, 59)), finished)
                events.append((RETURNED, returned, reception_desk, DEPARTMENT_UNITS[0]))

        events = [e for e in events if e[1] <= self.as_of]
        digitised = self.digitised_share(day)
        documents = [
            {
                "TenTaiLieu": f"Thành phần {n}",
                "DuocSoHoa": rng.random() < digitised,
                "DuocTaiSuDung": rng.random() < 0.05 + 0.2 * digitised,
            }
            for n in range(1, randint(1, 4) + 1)
        ]
        applicant = self._applicant(business)
        complaint = rng.random() < 0.004
        base = {
            "MaHoSo": code,
            "MaTTHC": procedure.MaTTHC,
            "TenTTHC": procedure.TenTTHC,
            "MaLinhVuc": procedure.MaLinhVuc,
            "ChuHoSo": applicant["name"],
            "SoDienThoaiChuHoSo": applicant["phone"],
            "EmailChuHoSo": applicant["email"],
            "SoGiayToChuHoSo": applicant["identity"],
            "LoaiDoiTuong": 2 if business else 1,
            "NgayTiepNhan": stamp(received),
            "NgayHenTra": stamp(due),
            "NgayKetThucXuLy": None,
            "NgayTra": None,
            "TrangThaiHoSo": RECEIVED,
            "KenhThucHien": channel,
            "DonViXuLy": agency.code,
            "DuocThanhToanTrucTuyen": False,
            "HoSoCoThanhPhanSoHoa": any(d["DuocSoHoa"] for d in documents),
            "TaiKhoanDuocXacThucVoiVNeID": channel == ONLINE and rng.random() < 0.8,
            "CoPhanAnhKienNghi": False,
            "TaiLieuNop": documents,
            "DanhSachLePhi": fees,
            "DanhSachGiayToKetQua": [],
            "NgayCapNhat": stamp(received),
        }
        versions = self._versions(base, events, procedure, paid_online, complaint, digitised)
        event_records = [
            {
                "MaHoSo": code,
                "TrangThai": status,
                "ThoiDiemXuLy": stamp(moment),
                "PhongBanXuLy": f"{by.code}/{unit}",
                "NguoiXuLy": by.account(randint(0, 999)),
            }
            for status, moment, by, unit in sorted(events, key=lambda e: e[1])
        ]
        return versions, event_records

    def _versions(
        self,
        base: dict,
        events: list[tuple[int, datetime, Agency, str]],
        procedure: Procedure,
        paid_online: bool,
        complaint: bool,
        digitised: float,
    ) -> list[dict]:
        """The payloads pushed to the portal: at reception, and again at the end if later."""
        if not events:
            return []
        statuses = {status: moment for status, moment, _, _ in events}
        ended = next(
            (statuses[s] for s in (DONE, STOPPED, WITHDRAWN, REFUSED) if s in statuses), None
        )
        returned = statuses.get(RETURNED)
        reception = dict(base)
        if REFUSED in statuses:
            reception |= {"TrangThaiHoSo": REFUSED, "NgayKetThucXuLy": stamp(ended)}
            return [reception]
        last_status, last_moment, _, _ = max(events, key=lambda e: e[1])
        if last_moment.date() == statuses[RECEIVED].date() and ended is None:
            return [reception]
        final = dict(base) | {
            "TrangThaiHoSo": last_status,
            "NgayKetThucXuLy": stamp(ended) if ended else None,
            "NgayTra": stamp(returned) if returned else None,
            "DuocThanhToanTrucTuyen": paid_online,
            "CoPhanAnhKienNghi": complaint and ended is not None,
            "NgayCapNhat": stamp(last_moment),
        }
        if last_status in (DONE, RETURNED) and procedure.YeuCauKetQuaDienTu:
            final["DanhSachGiayToKetQua"] = [
                {"TenGiayTo": "Kết quả giải quyết thủ tục hành chính",
                 "CoTepDienTu": self.rng.random() < 0.5 + 0.4 * digitised}
            ]  # fmt: skip
        return [reception, final]

    def _working_days_between(self, first: date, last: date) -> int:
        count, day = 0, first
        while day < last:
            day += timedelta(days=1)
            count += self.calendar.is_working_day(day)
        return count

    def _fees(self, procedure: Procedure) -> list[dict]:
        if not procedure.CoPhiLePhi:
            return []
        amount = self.rng.choice((0, 0, 20_000, 50_000, 100_000, 200_000))
        return [{"MaPhiLePhi": "LP01", "TenPhiLePhi": "Lệ phí", "SoTien": amount}]

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


class FaultyWriter:
    """Writes JSON lines, spoiling some the way real exports are spoiled, and says which."""

    def __init__(self, handle, injector: FaultInjector, kinds: tuple[str, ...],
                 key: Callable[[dict], str], file: str) -> None:  # fmt: skip
        self.handle = handle
        self.injector = injector
        self.kinds = kinds
        self.key = key
        self.file = file

    def write(self, record: dict, previous: dict | None = None) -> None:
        kind = self.injector.draw(self.kinds)
        if kind == fault_kinds.OUT_OF_ORDER_EVENT and (
            previous is None or record["TrangThai"] < IN_PROCESS
        ):
            kind = None  # only a step after reception can be stamped before it
        if kind is None:
            self.handle.write(orjson.dumps(record) + b"\n")
            return
        line, detail = spoil(record, kind, previous)
        self.handle.write(line + b"\n")
        if kind == fault_kinds.DUPLICATE:
            self.handle.write(line + b"\n")
        self.injector.record(self.key(record), kind, detail, self.file)


def spoil(record: dict, kind: str, previous: dict | None) -> tuple[bytes, str]:
    """The record's line with one fault of ``kind``, and a word on what was done."""
    spoiled = dict(record)
    date_field = "NgayTiepNhan" if "NgayTiepNhan" in record else "ThoiDiemXuLy"
    if kind == fault_kinds.MALFORMED_DATE:
        value = datetime.strptime(record[date_field], TIMESTAMP_FORMAT)
        spoiled[date_field] = value.strftime("%d/%m/%Y %H:%M")
        return orjson.dumps(spoiled), f"{date_field}={spoiled[date_field]}"
    if kind == fault_kinds.IMPOSSIBLE_DATE:
        spoiled[date_field] = record[date_field][:4] + "0231" + record[date_field][8:]
        return orjson.dumps(spoiled), f"{date_field}={spoiled[date_field]}"
    if kind == fault_kinds.UNKNOWN_PROCEDURE:
        spoiled["MaTTHC"] = "9.999999"
        return orjson.dumps(spoiled), "MaTTHC=9.999999"
    if kind == fault_kinds.UNKNOWN_UNIT:
        spoiled["DonViXuLy"] = "000.99.99.H99"
        return orjson.dumps(spoiled), "DonViXuLy=000.99.99.H99"
    if kind == fault_kinds.MISSING_FIELD:
        name = "MaHoSo" if date_field == "ThoiDiemXuLy" else "NgayTiepNhan"
        spoiled.pop(name)
        return orjson.dumps(spoiled), f"{name} missing"
    if kind == fault_kinds.WRONG_ENCODING:
        text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        legacy = unicodedata.normalize("NFD", text).encode("cp1258", errors="replace")
        return legacy, "line encoded as Windows-1258"
    if kind == fault_kinds.ABSURD_VALUE:
        if "TrangThai" in record:
            spoiled["TrangThai"] = 4242
            return orjson.dumps(spoiled), "TrangThai=4242"
        spoiled["DanhSachLePhi"] = [
            {"MaPhiLePhi": "LP01", "TenPhiLePhi": "Lệ phí", "SoTien": 10**15}
        ]
        return orjson.dumps(spoiled), "SoTien=10^15"
    if kind == fault_kinds.OUT_OF_ORDER_EVENT:  # ``previous`` is the reception event
        earlier = datetime.strptime(
            (previous or record)["ThoiDiemXuLy"], TIMESTAMP_FORMAT
        ) - timedelta(days=1)
        spoiled["ThoiDiemXuLy"] = stamp(earlier)
        return orjson.dumps(spoiled), f"ThoiDiemXuLy={spoiled['ThoiDiemXuLy']} before reception"
    if kind == fault_kinds.DUPLICATE:
        return orjson.dumps(record), "written twice"
    raise ValueError(f"unknown fault kind {kind}")


def write_procedure_system(
    out: Path,
    region: Region,
    agencies: list[Agency],
    calendar: WorkingCalendar,
    seed: int,
    scale: float,
    start: date,
    end: date,
    fault_rate: float = 0.0,
    on_day: Callable[[date], None] | None = None,
) -> MonthlyCounts:
    """Write the catalogue, the dossier versions and the events under ``out/procedures``."""
    directory = out / "procedures"
    directory.mkdir(parents=True, exist_ok=True)
    catalogue = build_catalogue(random.Random(f"catalogue-{seed}"))
    (directory / "catalogue.json").write_text(
        json.dumps([asdict(p) for p in catalogue], ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
    system = ProcedureSystem(
        region, agencies, catalogue, calendar, seed, scale, at(end, 23, 59, 59)
    )
    counts = MonthlyCounts()
    with (
        (directory / "dossiers.jsonl").open("wb") as dossier_file,
        (directory / "events.jsonl").open("wb") as event_file,
        FaultInjector(out, "procedures.dossiers", fault_rate, seed) as dossier_faults,
        FaultInjector(out, "procedures.events", fault_rate, seed) as event_faults,
    ):
        dossiers = FaultyWriter(
            dossier_file, dossier_faults, DOSSIER_FAULTS,
            lambda r: f"{r['MaHoSo']}|{r['NgayCapNhat']}", "procedures/dossiers.jsonl",
        )  # fmt: skip
        events = FaultyWriter(
            event_file, event_faults, EVENT_FAULTS,
            lambda r: f"{r['MaHoSo']}|{r['TrangThai']}|{r['ThoiDiemXuLy']}",
            "procedures/events.jsonl",
        )  # fmt: skip
        event_months: Counter[str] = Counter()
        for day in system.days(start, end):
            if on_day:
                on_day(day)
            dossiers_today = system.daily_count(day)
            versions_today = 0
            for sequence in range(1, dossiers_today + 1):
                versions, progress = system.dossier(day, sequence)
                versions_today += len(versions)
                for version in versions:
                    dossiers.write(version)
                reception = None
                for event in progress:
                    events.write(event, reception)
                    if event["TrangThai"] in (RECEIVED, REFUSED):
                        reception = event
                    event_months[event["ThoiDiemXuLy"][:6]] += 1
            counts.add("procedures.dossiers", day, dossiers_today)
            counts.add("procedures.dossier_versions", day, versions_today)
        for month, n in event_months.items():
            counts.add("procedures.events", date(int(month[:4]), int(month[4:]), 1), n)
    return counts
