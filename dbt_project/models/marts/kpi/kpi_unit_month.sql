with

kpis as (

    select * from {{ ref('int_kpi__unit_month') }}

),

units as (

    select * from {{ ref('dim_admin_unit') }}

),

current_units as (

    select * from {{ ref('int_admin_units__current_units') }}

),

names as (

    select kpi_code, kpi_name from {{ ref('kpi_definitions') }}
    union all
    select kpi_code, kpi_name from {{ ref('kpi_definitions_documents_reports') }}

),

{#- Each figure with the unit it was recorded on (the unit key its fact carries: a dossier
    received by an old commune stays on it while in process after 30 June 2025) and the
    current units it is restated on, with their weights. -#}
resolved as (

    select
        kpis.period_month,
        kpis.kpi_code,
        kpis.numerator,
        kpis.denominator,
        current_units.recorded_unit_key,
        current_units.recorded_unit_level,
        current_units.recorded_province_key,
        current_units.current_unit_key,
        current_units.current_unit_level,
        current_units.weight
    from kpis
    inner join current_units
        on kpis.unit_key = current_units.recorded_unit_key

),

{#- As recorded: communes as they were (old communes before 1 July 2025), and each province
    as it was, totalling every unit recorded in it (its communes, districts and agencies). -#}
as_recorded_communes as (

    select
        period_month,
        recorded_unit_key as unit_key,
        kpi_code,
        cast(numerator as {{ type_double() }}) as numerator,
        cast(denominator as {{ type_double() }}) as denominator
    from resolved
    where recorded_unit_level = 'commune' and current_unit_level = 'province'

),

as_recorded_provinces as (

    select
        period_month,
        recorded_province_key as unit_key,
        kpi_code,
        cast(sum(numerator) as {{ type_double() }}) as numerator,
        cast(sum(denominator) as {{ type_double() }}) as denominator
    from resolved
    where current_unit_level = 'province'
    group by 1, 2, 3

),

{#- On today's boundaries: history restated through the crosswalk, a split commune's figures
    shared among its successors by weight (bridge_admin_unit_crosswalk's rule). Province and
    district agencies have no commune: they count in the province only. -#}
on_current_boundaries as (

    select
        period_month,
        current_unit_key as unit_key,
        kpi_code,
        sum(numerator * weight) as numerator,
        sum(denominator * weight) as denominator
    from resolved
    group by 1, 2, 3

),

combined as (

    select *, 'as_recorded' as boundaries from as_recorded_communes
    union all
    select *, 'as_recorded' as boundaries from as_recorded_provinces
    union all
    select *, 'current' as boundaries from on_current_boundaries

),

named as (

    select
        combined.period_month,
        units.unit_code,
        units.unit_name,
        units.unit_level,
        combined.kpi_code,
        names.kpi_name,
        cast(combined.numerator as {{ type_double() }}) as numerator,
        cast(combined.denominator as {{ type_double() }}) as denominator,
        {{ safe_rate('combined.numerator', 'combined.denominator') }} as rate,
        combined.boundaries,
        units.unit_key,
        units.current_province_code as province_code
    from combined
    left join names on combined.kpi_code = names.kpi_code
    inner join units on combined.unit_key = units.unit_key

)

select * from named
