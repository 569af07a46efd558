with

agencies as (

    select * from {{ ref('stg_procedures__agencies') }}

),

units as (

    select * from {{ ref('dim_admin_unit') }}

),

final as (

    -- The unit an agency serves is the one in force while the agency existed.
    select
        agencies.agency_code,
        agencies.agency_name,
        agencies.agency_kind,
        agencies.unit_code,
        units.unit_level,
        units.current_province_code,
        agencies.valid_from,
        agencies.valid_to
    from agencies
    left join units
        on agencies.unit_code = units.unit_code
        and coalesce(agencies.valid_to, date '9999-12-31') >= coalesce(units.valid_from, date '0001-01-01')
        and coalesce(agencies.valid_from, date '0001-01-01') <= coalesce(units.valid_to, date '9999-12-31')

)

select * from final
