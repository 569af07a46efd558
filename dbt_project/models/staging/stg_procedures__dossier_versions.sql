with

source as (

    select * from {{ source('procedures', 'procedures__dossiers') }}

),

renamed as (

    select
        ---------- ids
        record_key as dossier_code,
        {{ json_text('payload', 'MaTTHC') }} as procedure_code,
        {{ json_text('payload', 'MaLinhVuc') }} as field_code,
        {{ json_text('payload', 'DonViXuLy') }} as processing_agency_code,
        {{ json_text('payload', 'MaChuHoSoAnDanh') }} as applicant_key,

        ---------- codes
        cast({{ json_text('payload', 'TrangThaiHoSo') }} as integer) as status_code,
        cast({{ json_text('payload', 'KenhThucHien') }} as integer) as channel_code,
        cast({{ json_text('payload', 'LoaiDoiTuong') }} as integer) as applicant_type_code,

        ---------- booleans
        cast({{ json_text('payload', 'DuocThanhToanTrucTuyen') }} as boolean) as is_paid_online,
        cast({{ json_text('payload', 'HoSoCoThanhPhanSoHoa') }} as boolean) as has_digitised_inputs,
        cast({{ json_text('payload', 'TaiKhoanDuocXacThucVoiVNeID') }} as boolean) as is_vneid_verified,
        cast({{ json_text('payload', 'CoPhanAnhKienNghi') }} as boolean) as has_complaint,

        ---------- arrays: submitted components, fees, result documents
        {{ json_array_size('payload', 'TaiLieuNop') }} as input_count,
        {{ json_array_any_true('payload', 'TaiLieuNop', 'DuocTaiSuDung') }} as has_reused_inputs,
        {{ json_array_size('payload', 'DanhSachLePhi') }} as fee_count,
        {{ json_array_any_positive('payload', 'DanhSachLePhi', 'SoTien') }} as has_nonzero_fee,
        {{ json_array_size('payload', 'DanhSachGiayToKetQua') }} as result_document_count,
        {{ json_array_any_true('payload', 'DanhSachGiayToKetQua', 'CoTepDienTu') }} as has_electronic_result,

        ---------- timestamps (Asia/Ho_Chi_Minh local time)
        {{ portal_timestamp(json_text('payload', 'NgayTiepNhan')) }} as received_at,
        {{ portal_timestamp(json_text('payload', 'NgayHenTra')) }} as due_at,
        {{ portal_timestamp(json_text('payload', 'NgayKetThucXuLy')) }} as processing_ended_at,
        {{ portal_timestamp(json_text('payload', 'NgayTra')) }} as returned_at,
        {{ portal_timestamp('updated_at') }} as updated_at,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
