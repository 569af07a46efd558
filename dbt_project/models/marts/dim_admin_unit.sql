with

units as (

    select * from {{ ref('admin_units') }}

),

final as (

    select
        unit_code,
        unit_name,
        unit_level,
        unit_type,
        parent_code,
        current_province_code,
        valid_from,
        valid_to
    from units

)

select * from final
