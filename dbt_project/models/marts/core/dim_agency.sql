with

agencies as (

    select * from {{ ref('stg_procedures__agencies') }}

),

units as (

    select * from {{ ref('dim_admin_unit') }}

),

current_communes as (

    select * from {{ ref('int_admin_units__current_units') }}
    where current_unit_level = 'commune' and is_default_successor

),

final as (

    -- The unit an agency serves is the one in force while the agency existed.
    select
        agencies.province_code,
        agencies.agency_code,
        agencies.agency_name,
        agencies.agency_kind,
        agencies.unit_code,
        units.unit_key,
        units.unit_level,
        units.current_province_code,
        -- An old commune's agency is attributed whole to the commune its commune became (the
        -- default successor when it was split); province and district agencies have none.
        current_communes.current_unit_code as current_commune_code,
        agencies.valid_from,
        agencies.valid_to
    from agencies
    left join units
        on agencies.unit_code = units.unit_code
        and coalesce(agencies.valid_to, date '9999-12-31') >= coalesce(units.valid_from, date '0001-01-01')
        and coalesce(agencies.valid_from, date '0001-01-01') <= coalesce(units.valid_to, date '9999-12-31')
    left join current_communes on units.unit_key = current_communes.recorded_unit_key

)

select * from final
