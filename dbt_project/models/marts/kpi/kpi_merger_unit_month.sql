with

kpis as (

    -- Each figure on the unit that produced it.
    select * from {{ ref('kpi_unit_month') }}
    where boundaries = 'as_recorded'

),

units as (

    select * from {{ ref('dim_admin_unit') }}

),

search as (

    select * from {{ ref('admin_unit_search') }}

),

{#- The units an old unit became (one or several, a split commune), named for the reader. -#}
successors as (

    select
        unit_key,
        {{ string_agg_ordered("related_unit_name || ' (' || related_unit_code || ')'", ', ',
            'related_unit_code') }} as successor_names
    from search
    where relation = 'became'
    group by unit_key

),

final as (

    select
        kpis.period_month,
        kpis.unit_key,
        kpis.unit_code,
        kpis.unit_name,
        kpis.unit_level,
        units.search_name,
        kpis.unit_name || ' · ' || kpis.unit_code || ' · ' || units.search_name
            || case when units.is_current then '' else ' · trước sáp nhập' end as unit_lookup,
        units.valid_from,
        units.valid_to,
        units.is_current,
        successors.successor_names,
        kpis.kpi_code,
        kpis.kpi_name,
        kpis.numerator,
        kpis.denominator,
        kpis.rate
    from kpis
    inner join units on kpis.unit_key = units.unit_key
    left join successors on kpis.unit_key = successors.unit_key

)

select * from final
