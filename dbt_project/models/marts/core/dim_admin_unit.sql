with

units as (

    select * from {{ ref('admin_units') }}

),

final as (

    select
        unit_key,
        unit_code,
        unit_name,
        unit_name_ascii,
        lower(unit_name_ascii) as search_name,
        unit_level,
        unit_type,
        parent_code,
        parent_unit_key,
        province_code,
        current_province_code,
        valid_from,
        valid_to,
        valid_to is null as is_current
    from units

)

select * from final
