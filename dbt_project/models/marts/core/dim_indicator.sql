with

indicators as (

    select * from {{ ref('stg_reports__indicators') }}

),

final as (

    select
        province_code,
        indicator_code,
        indicator_name,
        measure_unit,
        value_type,
        min_value,
        max_value
    from indicators

)

select * from final
