with

source as (

    select * from {{ source('procedures', 'procedures__dossiers') }}

),

renamed as (

    select
        ---------- ids
        "MaHoSo" as dossier_code,
        "MaTTHC" as procedure_code,
        "MaLinhVuc" as field_code,
        "DonViXuLy" as processing_agency_code,
        "MaChuHoSoAnDanh" as applicant_key,

        ---------- codes
        cast("TrangThaiHoSo" as integer) as status_code,
        cast("KenhThucHien" as integer) as channel_code,
        cast("LoaiDoiTuong" as integer) as applicant_type_code,

        ---------- booleans
        cast("DuocThanhToanTrucTuyen" as boolean) as is_paid_online,
        cast("HoSoCoThanhPhanSoHoa" as boolean) as has_digitised_inputs,
        cast("TaiKhoanDuocXacThucVoiVNeID" as boolean) as is_vneid_verified,
        cast("CoPhanAnhKienNghi" as boolean) as has_complaint,

        ---------- arrays: submitted components, fees, result documents
        {{ json_array_size('"TaiLieuNop"') }} as input_count,
        {{ json_array_any_true('"TaiLieuNop"', 'DuocTaiSuDung') }} as has_reused_inputs,
        {{ json_array_size('"DanhSachLePhi"') }} as fee_count,
        {{ json_array_any_positive('"DanhSachLePhi"', 'SoTien') }} as has_nonzero_fee,
        {{ json_array_size('"DanhSachGiayToKetQua"') }} as result_document_count,
        {{ json_array_any_true('"DanhSachGiayToKetQua"', 'CoTepDienTu') }} as has_electronic_result,

        ---------- timestamps (Asia/Ho_Chi_Minh local time, typed at ingestion)
        cast("NgayTiepNhan" as timestamp) as received_at,
        cast("NgayHenTra" as timestamp) as due_at,
        cast("NgayKetThucXuLy" as timestamp) as processing_ended_at,
        cast("NgayTra" as timestamp) as returned_at,
        cast("NgayCapNhat" as timestamp) as updated_at,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
