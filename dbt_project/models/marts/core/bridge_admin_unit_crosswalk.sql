with

crosswalk as (

    select * from {{ ref('admin_unit_crosswalk') }}

),

units as (

    select * from {{ ref('dim_admin_unit') }}

),

{#- The old unit is the one in force the day before the change, the new one on its day. -#}
resolved as (

    select
        old_units.unit_key as old_unit_key,
        crosswalk.old_unit_code,
        crosswalk.old_unit_level,
        old_units.unit_name as old_unit_name,
        old_units.province_code as old_province_code,
        new_units.unit_key as new_unit_key,
        crosswalk.new_unit_code,
        crosswalk.new_unit_level,
        new_units.unit_name as new_unit_name,
        new_units.province_code as new_province_code,
        crosswalk.effective_date,
        crosswalk.is_partly_merged,
        crosswalk.is_default_successor
    from crosswalk
    inner join units as old_units
        on crosswalk.old_unit_code = old_units.unit_code
        and crosswalk.old_unit_level = old_units.unit_level
        and old_units.valid_to = crosswalk.effective_date - 1
    inner join units as new_units
        on crosswalk.new_unit_code = new_units.unit_code
        and crosswalk.new_unit_level = new_units.unit_level
        and crosswalk.effective_date >= coalesce(new_units.valid_from, date '0001-01-01')
        and crosswalk.effective_date <= coalesce(new_units.valid_to, date '9999-12-31')

),

{#- Apportionment: an old unit split across n new units of a level gives each 1/n of its
    figures. The package records neither population nor the area of each part (only each new
    commune's total area, which also holds the other old communes merged into it), so equal
    shares is the rule that assumes nothing. -#}
apportioned as (

    select
        *,
        count(*) over (partition by old_unit_key, new_unit_level) as successor_count,
        cast(1 as {{ type_double() }})
            / count(*) over (partition by old_unit_key, new_unit_level) as weight
    from resolved

)

select * from apportioned
