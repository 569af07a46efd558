with

kpis as (

    -- Scored on today's units: history restated on current boundaries.
    select * from {{ ref('kpi_unit_month') }}
    where boundaries = 'current'

),

definitions as (

    select * from {{ ref('kpi_definitions') }}

),

targets as (

    select * from {{ ref('digital_government_targets') }}

),

province_kpis as (

    select * from kpis where unit_level = 'province'

),

{#- The target in force in a month is the nearest one not yet past: the 2025 target through
    2025, the 2030 target from 2026 to 2030. -#}
target_in_force as (

    select
        province_kpis.period_month,
        province_kpis.kpi_code,
        min(targets.target_year) as target_year
    from province_kpis
    inner join targets
        on province_kpis.kpi_code = targets.kpi_code
        and targets.unit_level in ('province', 'all')
        and targets.target_year >= cast(extract(year from province_kpis.period_month) as integer)
    group by 1, 2

),

scorecard as (

    select
        province_kpis.period_month,
        province_kpis.unit_code,
        province_kpis.unit_name,
        province_kpis.kpi_code,
        province_kpis.kpi_name,
        definitions.measure,
        province_kpis.numerator,
        province_kpis.denominator,
        province_kpis.rate,
        targets.target_code,
        targets.target_year,
        targets.target_rate,
        province_kpis.rate - targets.target_rate as gap_to_target,
        case when targets.target_rate is not null then province_kpis.rate >= targets.target_rate end
            as meets_target,
        definitions.full_marks_threshold,
        case when definitions.full_marks_threshold is not null
            then province_kpis.rate >= definitions.full_marks_threshold end
            as meets_full_marks
    from province_kpis
    left join definitions on province_kpis.kpi_code = definitions.kpi_code
    left join target_in_force
        on province_kpis.period_month = target_in_force.period_month
        and province_kpis.kpi_code = target_in_force.kpi_code
    left join targets
        on target_in_force.kpi_code = targets.kpi_code
        and target_in_force.target_year = targets.target_year
        and targets.unit_level in ('province', 'all')

)

select * from scorecard
