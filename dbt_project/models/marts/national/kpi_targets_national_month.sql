with

provinces as (

    select * from {{ ref('kpi_targets_province_month') }}

),

{#- The country's rate is the provinces' numerators over their denominators (a national
    share, not a mean of shares); a province meets a target when its rate reaches it. -#}
national as (

    select
        period_month,
        kpi_code,
        max(kpi_name) as kpi_name,
        max(target_2025) as target_2025,
        max(target_2030) as target_2030,
        count(*) as provinces_reporting,
        count(rate) as provinces_measured,
        -- Null where the indicator has no target that year: nothing to meet.
        case when max(target_2025) is not null
            then sum(case when rate >= target_2025 then 1 else 0 end) end
            as provinces_meeting_2025,
        case when max(target_2030) is not null
            then sum(case when rate >= target_2030 then 1 else 0 end) end
            as provinces_meeting_2030,
        sum(numerator) as numerator,
        sum(denominator) as denominator,
        min(rate) as lowest_rate,
        max(rate) as highest_rate
    from provinces
    group by period_month, kpi_code

),

final as (

    select
        period_month,
        kpi_code,
        kpi_name,
        cast(provinces_reporting as integer) as provinces_reporting,
        cast(provinces_measured as integer) as provinces_measured,
        cast(numerator as {{ type_double() }}) as numerator,
        cast(denominator as {{ type_double() }}) as denominator,
        cast({{ safe_rate('numerator', 'denominator') }} as {{ type_double() }}) as national_rate,
        cast(lowest_rate as {{ type_double() }}) as lowest_rate,
        cast(highest_rate as {{ type_double() }}) as highest_rate,
        target_2025,
        target_2030,
        cast(provinces_meeting_2025 as integer) as provinces_meeting_2025,
        cast(provinces_meeting_2030 as integer) as provinces_meeting_2030
    from national

)

select * from final
