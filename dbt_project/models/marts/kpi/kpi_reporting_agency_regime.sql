with

submissions as (

    select * from {{ ref('fct_report_submission') }}

),

regimes as (

    select * from {{ ref('dim_reporting_regime') }}

),

agencies as (

    select * from {{ ref('dim_agency') }}

),

{#- Reports that count (every status but pending), each named by the agency in force at its
    deadline (codes were reused after 1 July 2025). -#}
due as (

    select
        submissions.province_code,
        submissions.period_month,
        submissions.reporting_agency_code as agency_code,
        agencies.agency_name,
        submissions.regime_code,
        submissions.frequency,
        submissions.is_submitted,
        submissions.is_on_time,
        submissions.days_late
    from submissions
    left join agencies
        on submissions.province_code = agencies.province_code
        and submissions.reporting_agency_code = agencies.agency_code
        and submissions.deadline_date >= coalesce(agencies.valid_from, date '0001-01-01')
        and submissions.deadline_date <= coalesce(agencies.valid_to, date '9999-12-31')
    where submissions.is_due

),

final as (

    select
        due.province_code,
        due.period_month,
        due.agency_code,
        coalesce(max(due.agency_name), due.agency_code) as agency_name,
        due.regime_code,
        max(regimes.regime_name) as regime_name,
        max(due.frequency) as frequency,
        cast(count(*) as {{ type_double() }}) as reports_due,
        cast(sum(case when due.is_submitted then 1 else 0 end) as {{ type_double() }})
            as reports_submitted,
        cast(sum(case when due.is_on_time then 1 else 0 end) as {{ type_double() }})
            as reports_on_time,
        {{ safe_rate('sum(case when due.is_on_time then 1 else 0 end)', 'count(*)') }}
            as on_time_rate,
        cast(avg(due.days_late) as {{ type_double() }}) as average_days_late
    from due
    left join regimes
        on due.province_code = regimes.province_code
        and due.regime_code = regimes.regime_code
    group by due.province_code, due.period_month, due.agency_code, due.regime_code

)

select * from final
