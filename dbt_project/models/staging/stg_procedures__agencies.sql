with

source as (

    select * from {{ source('procedures', 'procedures__agencies') }}

),

renamed as (

    select
        ---------- ids
        "MaDinhDanh" as agency_code,
        "MaDonViHanhChinh" as unit_code,
        "MaTinh" as province_code,

        ---------- attributes
        "TenCoQuan" as agency_name,
        "LoaiCoQuan" as agency_kind,

        ---------- validity
        cast(nullif("HieuLucTu", '') as date) as valid_from,
        cast(nullif("HieuLucDen", '') as date) as valid_to

    from source

)

select * from renamed
