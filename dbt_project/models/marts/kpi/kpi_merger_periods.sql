with

kpis as (

    select * from {{ ref('kpi_unit_month') }}

),

{#- Each indicator before the merger (to 30 June 2025) and after it (from 1 July 2025), both
    on today's boundaries (history restated through the crosswalk) and as recorded (the units
    as they were). A rate over a period is its numerators over its denominators. -#}
periods as (

    select
        boundaries,
        unit_code,
        unit_name,
        unit_level,
        unit_key,
        kpi_code,
        kpi_name,
        case when period_month < date '2025-07-01' then 'before' else 'after' end
            as merger_period,
        count(distinct period_month) as month_count,
        min(period_month) as first_month,
        max(period_month) as last_month,
        sum(numerator) as numerator,
        sum(denominator) as denominator
    from kpis
    group by 1, 2, 3, 4, 5, 6, 7, 8

),

final as (

    select
        boundaries,
        case when boundaries = 'current' then 'Theo địa giới hiện nay' else 'Theo đơn vị khi ghi nhận' end
            as boundaries_vi,
        unit_code,
        unit_name,
        unit_level,
        unit_key,
        kpi_code,
        kpi_name,
        merger_period,
        case when merger_period = 'before' then 'Trước 01/7/2025' else 'Từ 01/7/2025' end
            as merger_period_vi,
        cast(month_count as integer) as month_count,
        first_month,
        last_month,
        cast(numerator as {{ type_double() }}) as numerator,
        cast(denominator as {{ type_double() }}) as denominator,
        {{ safe_rate('numerator', 'denominator') }} as rate
    from periods

)

select * from final
