with

units as (

    select * from {{ ref('dim_admin_unit') }}

),

crosswalk as (

    select * from {{ ref('bridge_admin_unit_crosswalk') }}

),

current_units as (

    select * from units
    where is_current

),

{#- Every unit, old or current, lies wholly in one current province. -#}
to_province as (

    select
        units.unit_key as recorded_unit_key,
        provinces.unit_key as current_unit_key,
        cast(1 as {{ type_double() }}) as weight,
        false as is_partly_merged,
        true as is_default_successor
    from units
    inner join current_units as provinces
        on units.current_province_code = provinces.unit_code
        and provinces.unit_level = 'province'

),

{#- A current commune is its own current unit. -#}
commune_itself as (

    select
        unit_key as recorded_unit_key,
        unit_key as current_unit_key,
        cast(1 as {{ type_double() }}) as weight,
        false as is_partly_merged,
        true as is_default_successor
    from current_units
    where unit_level = 'commune'

),

{#- Old communes, and the island districts that became special zones, through the crosswalk;
    old provinces and the other districts have no commune. -#}
to_commune as (

    select
        old_unit_key as recorded_unit_key,
        new_unit_key as current_unit_key,
        weight,
        is_partly_merged,
        is_default_successor
    from crosswalk
    where new_unit_level = 'commune'

),

links as (

    select * from to_province
    union all
    select * from commune_itself
    union all
    select * from to_commune

),

final as (

    select
        recorded.unit_key as recorded_unit_key,
        recorded.unit_code as recorded_unit_code,
        recorded.unit_level as recorded_unit_level,
        recorded.unit_name as recorded_unit_name,
        recorded.province_code as recorded_province_code,
        recorded_province.unit_key as recorded_province_key,
        coalesce(recorded.valid_from, date '0001-01-01') as recorded_valid_from,
        coalesce(recorded.valid_to, date '9999-12-31') as recorded_valid_to,
        current_unit.unit_key as current_unit_key,
        current_unit.unit_code as current_unit_code,
        current_unit.unit_level as current_unit_level,
        current_unit.unit_name as current_unit_name,
        links.weight,
        links.is_partly_merged,
        links.is_default_successor
    from links
    inner join units as recorded on links.recorded_unit_key = recorded.unit_key
    inner join units as current_unit on links.current_unit_key = current_unit.unit_key
    left join units as recorded_province
        on recorded.province_code = recorded_province.unit_code
        and recorded_province.unit_level = 'province'
        and coalesce(recorded.valid_to, date '9999-12-31')
            = coalesce(recorded_province.valid_to, date '9999-12-31')

)

select * from final
