with

reports as (

    select * from {{ ref('fct_report_submission') }}

),

due as (

    -- Each report due once, on the unit its agency served, in its cut-off month.
    select
        period_month,
        unit_code,
        unit_key,
        unit_level,
        current_province_code,
        is_on_time,
        is_submitted
    from reports
    where is_due and unit_code is not null

),

{#- report.on_time: reports first submitted on or before the deadline day / reports due. -#}
on_time as (

    select
        period_month,
        unit_code,
        unit_key,
        unit_level,
        current_province_code,
        'report.on_time' as kpi_code,
        cast(sum(case when is_on_time then 1 else 0 end) as bigint) as numerator,
        cast(count(*) as bigint) as denominator
    from due
    group by 1, 2, 3, 4, 5

),

{#- report.submitted: reports submitted at all (on time or late) / reports due. -#}
submitted as (

    select
        period_month,
        unit_code,
        unit_key,
        unit_level,
        current_province_code,
        'report.submitted' as kpi_code,
        cast(sum(case when is_submitted then 1 else 0 end) as bigint) as numerator,
        cast(count(*) as bigint) as denominator
    from due
    group by 1, 2, 3, 4, 5

),

combined as (

    select * from on_time
    union all
    select * from submitted

)

select * from combined
