with

source as (

    select * from {{ source('procedures', 'procedures__agencies') }}

),

renamed as (

    select
        ---------- ids
        province_code,
        {{ adapter.quote('MaDinhDanh') }} as agency_code,
        {{ adapter.quote('MaDonViHanhChinh') }} as unit_code,
        {{ adapter.quote('MaTinh') }} as agency_province_code,

        ---------- attributes
        {{ adapter.quote('TenCoQuan') }} as agency_name,
        {{ adapter.quote('LoaiCoQuan') }} as agency_kind,

        ---------- validity
        cast(nullif({{ adapter.quote('HieuLucTu') }}, '') as date) as valid_from,
        cast(nullif({{ adapter.quote('HieuLucDen') }}, '') as date) as valid_to

    from source

)

select * from renamed
