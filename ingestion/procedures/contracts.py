"""The procedure system's sources and what their records must satisfy: the sync payload's
contracts (dossiers, events, the catalogue and agency directory), the raw tables, and the code
lists (the system's own catalogue and agency directory) a dossier's codes must belong to."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pyarrow as pa

from core.errors import SourceError
from core.warehouse import Warehouse
from ingestion.contract import TIMESTAMP, TIMESTAMP_FORMAT, TIMESTAMP_PATTERN, Contract, Field
from ingestion.loader import RawTable, snapshot_rows

SOURCE = "procedures.dossiers"
EVENTS_SOURCE = "procedures.events"
EXPORT_SOURCE = "procedures.dossier_exports"
EVENTS_EXPORT_SOURCE = "procedures.event_exports"
RAW_TABLE = "raw.procedures__dossiers"
AGENCIES_SOURCE = "procedures.agencies"
AGENCIES_TABLE = "raw.procedures__agencies"
AGENCY_FIELDS = ("MaDinhDanh", "TenCoQuan", "LoaiCoQuan", "MaDonViHanhChinh", "MaTinh",
                 "HieuLucTu", "HieuLucDen")  # fmt: skip

MAX_FEE_VND = 10**10  # no procedure fee comes near ten billion dong
LARGEST_FEE = "DanhSachLePhi.SoTien"  # derived: the largest fee of the dossier
STAMP = {"pattern": TIMESTAMP_PATTERN, "timestamp_format": TIMESTAMP_FORMAT}  # kept as text
TYPED_STAMP = {**STAMP, "raw_type": TIMESTAMP}  # kept as a timestamp once checked
BOOLEAN = {"allowed": ["true", "false"], "raw_type": pa.bool_()}
CODE = {"raw_type": pa.int32()}  # small integer codes, checked against their list
APPLICANT_KEY = "MaChuHoSoAnDanh"  # keyed hash of the applicant's identity number (else name)

# The national portal's sync payload (DongBoHoSoMC), as the connector accepts it. Scalars are
# checked as the text they arrived as and kept so, but for codes, booleans and timestamps,
# typed once checked; nested lists are kept as JSON.
DOSSIER_CONTRACT = Contract(
    source=SOURCE,
    fields=(
        Field("MaHoSo", required=True, description="Dossier code"),
        Field("MaTTHC", required=True, codes="procedures", description="Procedure code"),
        Field("TenTTHC", description="Procedure name"),
        Field("MaLinhVuc", description="Field code"),
        Field("ChuHoSo", personal=True, description="Applicant"),
        Field("SoDienThoaiChuHoSo", personal=True),
        Field("EmailChuHoSo", personal=True),
        Field("SoGiayToChuHoSo", personal=True, description="Applicant's identity number"),
        Field("LoaiDoiTuong", allowed=["1", "2"], **CODE, description="1 citizen, 2 business"),
        Field("NgayTiepNhan", required=True, **TYPED_STAMP, description="Received"),
        Field("NgayHenTra", **TYPED_STAMP, description="Due"),
        Field("NgayKetThucXuLy", **TYPED_STAMP, description="Processing ended"),
        Field("NgayTra", **TYPED_STAMP, description="Result returned"),
        Field("TrangThaiHoSo", required=True, allowed=[str(n) for n in range(1, 11)], **CODE),
        Field("KenhThucHien", allowed=["1", "2", "3"], **CODE,
              description="1 in person, 2 online, 3 post"),
        Field("DonViXuLy", required=True, codes="agencies", description="Processing agency"),
        Field("DuocThanhToanTrucTuyen", **BOOLEAN, description="Paid online"),
        Field("HoSoCoThanhPhanSoHoa", **BOOLEAN, description="Has digitised inputs"),
        Field("TaiKhoanDuocXacThucVoiVNeID", **BOOLEAN, description="VNeID-verified account"),
        Field("CoPhanAnhKienNghi", **BOOLEAN, description="A complaint was filed"),
        Field("TaiLieuNop", json=True, description="Submitted documents"),
        Field("DanhSachLePhi", json=True, description="Fees and charges"),
        Field("DanhSachGiayToKetQua", json=True, description="Result documents"),
        Field("NgayCapNhat", required=True, **TYPED_STAMP, not_in_future=True,
              description="Version pushed"),
        Field(LARGEST_FEE, pl.Float64, minimum=0, maximum=MAX_FEE_VND, derived=(
            # -1 (below the minimum) when the list is not a list of amounts
            """case when "DanhSachLePhi" is null then null
                    when json_type("DanhSachLePhi") <> 'ARRAY' then -1
                    when json_array_length("DanhSachLePhi") = 0 then null
                    when len(list_filter(json_extract("DanhSachLePhi", '$[*].SoTien'),
                             lambda v: json_type(v) in ('UBIGINT', 'BIGINT', 'HUGEINT', 'DOUBLE')))
                         < json_array_length("DanhSachLePhi") then -1
                    else list_max(list_transform(json_extract("DanhSachLePhi", '$[*].SoTien'),
                                                 lambda v: cast(v as double))) end"""
        ), description="Largest fee of the dossier (checked, not stored)"),
    ),
)  # fmt: skip
# Personal data never goes past the landing zone; the applicant becomes a keyed hash.
PERSONAL_FIELDS = DOSSIER_CONTRACT.personal_fields
DOSSIERS_TABLE = RawTable(
    RAW_TABLE,
    DOSSIER_CONTRACT.raw_schema.append(pa.field(APPLICANT_KEY, pa.string())),
    natural_key=("MaHoSo",),
    updated="NgayCapNhat",
    json_columns=DOSSIER_CONTRACT.json_fields,
)


EVENT_CONTRACT = Contract(
    source=EVENTS_SOURCE,
    fields=(
        Field("MaHoSo", required=True, description="Dossier code"),
        Field("TrangThai", required=True, allowed=[str(n) for n in range(1, 11)]),
        Field(
            "ThoiDiemXuLy",
            required=True,
            **STAMP,
            not_in_future=True,
            description="When the step happened",
        ),
        Field("PhongBanXuLy", description="Agency code / department that acted"),
        Field("NguoiXuLy", personal=True, description="Staff account that acted"),
    ),
)
EVENTS_TABLE = RawTable(
    "raw.procedures__events",
    pa.schema([("record_key", pa.string()), ("status", pa.int64()),
               ("occurred_at", pa.string()), ("department", pa.string()),
               ("handler_key", pa.string())]),
    natural_key=("record_key", "status", "occurred_at"),
    bounded_by="occurred_at",
)  # fmt: skip


CATALOGUE_SOURCE = "procedures.catalogue"
CATALOGUE_TABLE = "raw.procedures__catalogue"
# The procedure catalogue (TTHC) as the system publishes it; raw keeps the text, staging types it.
CATALOGUE_CONTRACT = Contract(
    source=CATALOGUE_SOURCE,
    fields=(
        Field("MaTTHC", required=True, description="Procedure code"),
        Field("TenTTHC", required=True, description="Procedure name"),
        Field("MaLinhVuc", required=True, description="Field code"),
        Field("TenLinhVuc", description="Field name"),
        Field("CapThucHien", required=True, allowed=["tinh", "huyen", "xa"],
              description="Level: province, district (until 30/6/2025), commune"),
        Field("MucDoDVC", required=True, allowed=["toan_trinh", "mot_phan", "khong"],
              description="Online service: full-process, partial, none"),
        Field("ThoiHanGiaiQuyet", required=True, pattern=r"^\d{1,3}$",
              description="Legal processing time, working days"),
        Field("CoPhiLePhi", required=True, allowed=["true", "false"],
              description="Fee-bearing"),
        Field("YeuCauKetQuaDienTu", required=True, allowed=["true", "false"],
              description="A result document is required"),
    ),
)  # fmt: skip
AGENCY_CONTRACT = Contract(
    source=AGENCIES_SOURCE,
    fields=tuple(Field(name, required=name == "MaDinhDanh") for name in AGENCY_FIELDS),
)


@dataclass(frozen=True, slots=True)
class CodeLists:
    """The source's own reference data a record's codes must belong to."""

    procedures: frozenset[str]
    agencies: frozenset[str]

    def as_mapping(self) -> dict[str, frozenset[str]]:
        return {"procedures": self.procedures, "agencies": self.agencies}

    @classmethod
    def from_warehouse(cls, warehouse: Warehouse) -> CodeLists:
        """The catalogue and agency directory loaded in the raw layer (load them first)."""
        try:
            procedures = snapshot_rows(warehouse, CATALOGUE_TABLE, ["MaTTHC"])
            agencies = snapshot_rows(warehouse, AGENCIES_TABLE, ["MaDinhDanh"])
        except Exception as error:  # the snapshot tables do not exist yet
            raise SourceError(
                f"procedures: load the catalogue and agency directory before the dossiers ({error})"
            ) from error
        if not procedures or not agencies:
            raise SourceError("procedures: the catalogue or agency directory is empty")
        return cls(frozenset(r[0] for r in procedures), frozenset(r[0] for r in agencies))
