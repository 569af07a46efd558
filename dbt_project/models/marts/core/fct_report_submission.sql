with

submissions as (

    select * from {{ ref('stg_reports__submissions') }}

),

regimes as (

    select * from {{ ref('stg_reports__regimes') }}

),

agencies as (

    select * from {{ ref('dim_agency') }}

),

reports as (

    -- A report is one regime, period and agency; its rows are its indicators and versions.
    select
        province_code,
        regime_code,
        period_label,
        reporting_agency_code,
        min(period_start) as period_start,
        max(period_end) as period_end,
        max(deadline_date) as deadline_date,
        min(case when submission_version >= 1 then submitted_at end) as first_submitted_at,
        max(case when submission_version >= 1 then submitted_at end) as last_submitted_at,
        max(submission_version) as submission_count,
        count(distinct indicator_code) as indicator_count
    from submissions
    group by 1, 2, 3, 4

),

horizon as (

    -- The data's horizon: the last day anything was submitted in the province. A report not
    -- submitted whose deadline is on or after it may still come in time.
    select province_code, cast(max(submitted_at) as date) as as_of_date
    from submissions
    group by province_code

),

attributed as (

    -- Agency codes were reused in 2025: the agency is the one holding the code on the
    -- period's cut-off day (the period is reported by the agencies then in force).
    select
        reports.*,
        agencies.unit_code,
        agencies.unit_key,
        agencies.unit_level,
        agencies.current_province_code
    from reports
    left join agencies
        on reports.province_code = agencies.province_code
        and reports.reporting_agency_code = agencies.agency_code
        and reports.period_end >= coalesce(agencies.valid_from, date '0001-01-01')
        and reports.period_end <= coalesce(agencies.valid_to, date '9999-12-31')

),

classified as (

    select
        attributed.*,
        regimes.frequency,
        -- On time: the first submission falls on or before the deadline day; resubmissions
        -- correct a report, they do not make it late.
        case
            when attributed.first_submitted_at is null and attributed.deadline_date >= horizon.as_of_date
                then 'pending'
            when attributed.first_submitted_at is null then 'missing'
            when cast(attributed.first_submitted_at as date) <= attributed.deadline_date
                then 'on_time'
            else 'late'
        end as submission_status
    from attributed
    left join horizon on attributed.province_code = horizon.province_code
    left join regimes
        on attributed.province_code = regimes.province_code
        and attributed.regime_code = regimes.regime_code

),

final as (

    select
        province_code,
        regime_code,
        frequency,
        period_label,
        reporting_agency_code,
        unit_code,
        unit_key,
        unit_level,
        current_province_code,
        period_start,
        period_end,
        cast(date_trunc('month', period_end) as date) as period_month,
        deadline_date,
        first_submitted_at,
        last_submitted_at,
        cast(submission_count as bigint) as submission_count,
        cast(indicator_count as bigint) as indicator_count,
        submission_status,
        submission_status <> 'pending' as is_due,
        submission_status in ('on_time', 'late') as is_submitted,
        submission_status = 'on_time' as is_on_time,
        case
            when submission_status = 'late'
                then cast({{ dbt.datediff('deadline_date', 'cast(first_submitted_at as date)', 'day') }} as bigint)
        end as days_late
    from classified

)

select * from final
