with

source as (

    select * from {{ source('procedures', 'procedures__catalogue') }}

),

renamed as (

    select
        ---------- ids
        province_code,
        {{ adapter.quote('MaTTHC') }} as procedure_code,
        {{ adapter.quote('MaLinhVuc') }} as field_code,

        ---------- text
        {{ adapter.quote('TenTTHC') }} as procedure_name,
        {{ adapter.quote('TenLinhVuc') }} as field_name,

        ---------- codes (as published)
        {{ adapter.quote('CapThucHien') }} as level_code,
        {{ adapter.quote('MucDoDVC') }} as online_mode_code,

        ---------- numerics
        cast({{ adapter.quote('ThoiHanGiaiQuyet') }} as integer) as legal_working_days,

        ---------- booleans
        {{ adapter.quote('CoPhiLePhi') }} = 'true' as is_fee_bearing,
        {{ adapter.quote('YeuCauKetQuaDienTu') }} = 'true' as requires_result_document,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
