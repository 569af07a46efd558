with

source as (

    select * from {{ source('procedures', 'procedures__dossiers') }}

),

renamed as (

    select
        ---------- ids
        province_code,
        {{ adapter.quote('MaHoSo') }} as dossier_code,
        {{ adapter.quote('MaTTHC') }} as procedure_code,
        {{ adapter.quote('MaLinhVuc') }} as field_code,
        {{ adapter.quote('DonViXuLy') }} as processing_agency_code,
        {{ adapter.quote('MaChuHoSoAnDanh') }} as applicant_key,

        ---------- codes
        cast({{ adapter.quote('TrangThaiHoSo') }} as integer) as status_code,
        cast({{ adapter.quote('KenhThucHien') }} as integer) as channel_code,
        cast({{ adapter.quote('LoaiDoiTuong') }} as integer) as applicant_type_code,

        ---------- booleans
        cast({{ adapter.quote('DuocThanhToanTrucTuyen') }} as boolean) as is_paid_online,
        cast({{ adapter.quote('HoSoCoThanhPhanSoHoa') }} as boolean) as has_digitised_inputs,
        cast({{ adapter.quote('TaiKhoanDuocXacThucVoiVNeID') }} as boolean) as is_vneid_verified,
        cast({{ adapter.quote('CoPhanAnhKienNghi') }} as boolean) as has_complaint,

        ---------- arrays: submitted components, fees, result documents
        {{ json_array_size(adapter.quote('TaiLieuNop')) }} as input_count,
        {{ json_array_any_true(adapter.quote('TaiLieuNop'), 'DuocTaiSuDung') }} as has_reused_inputs,
        {{ json_array_size(adapter.quote('DanhSachLePhi')) }} as fee_count,
        {{ json_array_any_positive(adapter.quote('DanhSachLePhi'), 'SoTien') }} as has_nonzero_fee,
        {{ json_array_size(adapter.quote('DanhSachGiayToKetQua')) }} as result_document_count,
        {{ json_array_any_true(adapter.quote('DanhSachGiayToKetQua'), 'CoTepDienTu') }} as has_electronic_result,

        ---------- timestamps (Asia/Ho_Chi_Minh local time, typed at ingestion)
        cast({{ adapter.quote('NgayTiepNhan') }} as timestamp) as received_at,
        cast({{ adapter.quote('NgayHenTra') }} as timestamp) as due_at,
        cast({{ adapter.quote('NgayKetThucXuLy') }} as timestamp) as processing_ended_at,
        cast({{ adapter.quote('NgayTra') }} as timestamp) as returned_at,
        cast({{ adapter.quote('NgayCapNhat') }} as timestamp) as updated_at,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
