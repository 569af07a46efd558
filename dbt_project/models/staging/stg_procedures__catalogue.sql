with

source as (

    select * from {{ source('procedures', 'procedures__catalogue') }}

),

renamed as (

    select
        ---------- ids
        "MaTTHC" as procedure_code,
        "MaLinhVuc" as field_code,

        ---------- text
        "TenTTHC" as procedure_name,
        "TenLinhVuc" as field_name,

        ---------- codes (as published)
        "CapThucHien" as level_code,
        "MucDoDVC" as online_mode_code,

        ---------- numerics
        cast("ThoiHanGiaiQuyet" as integer) as legal_working_days,

        ---------- booleans
        "CoPhiLePhi" = 'true' as is_fee_bearing,
        "YeuCauKetQuaDienTu" = 'true' as requires_result_document,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
