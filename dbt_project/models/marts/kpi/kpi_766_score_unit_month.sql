with

kpis as (

    -- Scored on today's units: history restated on current boundaries.
    select * from {{ ref('kpi_unit_month') }}
    where boundaries = 'current'

),

definitions as (

    select * from {{ ref('kpi_definitions') }}

),

scored_definitions as (

    -- Every indicator with points in the 100-point index, measured or not.
    select *
    from definitions
    where kpi_code like '766.%' and max_points > 0

),

unit_months as (

    select distinct period_month, unit_code, unit_name, unit_level, province_code
    from kpis
    where kpi_code like '766.%'

),

indicator_rows as (

    select
        unit_months.period_month,
        unit_months.unit_code,
        unit_months.unit_name,
        unit_months.unit_level,
        unit_months.province_code,
        scored_definitions.kpi_group,
        scored_definitions.kpi_group_name,
        scored_definitions.group_max_points,
        scored_definitions.kpi_code,
        scored_definitions.kpi_name,
        scored_definitions.is_supported,
        scored_definitions.max_points,
        scored_definitions.full_marks_threshold,
        kpis.numerator,
        kpis.denominator,
        kpis.rate
    from unit_months
    cross join scored_definitions
    left join kpis
        on unit_months.period_month = kpis.period_month
        and unit_months.unit_code = kpis.unit_code
        and unit_months.unit_level = kpis.unit_level
        and scored_definitions.kpi_code = kpis.kpi_code

),

{#- Decision 766's rule: full points at R >= T, else points × R / T. An indicator without a
    rate (not supplied by the sources, not computed at this level, or nothing to measure that
    month) is not measured: its points are null and it is left out of points_measured. -#}
indicator_points as (

    select
        *,
        case
            when rate is null then null
            when rate >= full_marks_threshold then max_points
            when rate <= 0 then 0.0
            else max_points * rate / full_marks_threshold
        end as points
    from indicator_rows

),

with_totals as (

    select
        *,
        sum(points) over (partition by period_month, unit_code, unit_level, kpi_group)
            as group_points,
        sum(case when points is not null then max_points else 0 end) over (
            partition by period_month, unit_code, unit_level, kpi_group
        ) as group_points_measured,
        sum(points) over (partition by period_month, unit_code, unit_level) as total_points,
        sum(case when points is not null then max_points else 0 end) over (
            partition by period_month, unit_code, unit_level
        ) as total_points_measured
    from indicator_points

),

final as (

    select
        period_month,
        unit_code,
        unit_name,
        unit_level,
        kpi_group,
        kpi_group_name,
        kpi_code,
        kpi_name,
        is_supported,
        numerator,
        denominator,
        rate,
        full_marks_threshold,
        max_points,
        cast(points as {{ type_double() }}) as points,
        group_max_points,
        cast(group_points as {{ type_double() }}) as group_points,
        cast(group_points_measured as {{ type_double() }}) as group_points_measured,
        cast(coalesce(total_points, 0) as {{ type_double() }}) as total_points,
        cast(total_points_measured as {{ type_double() }}) as total_points_measured,
        cast(100 * coalesce(total_points, 0) / nullif(total_points_measured, 0)
            as {{ type_double() }}) as index_on_measured,
        province_code
    from with_totals

)

select * from final
