with

reports as (

    select * from {{ ref('fct_report_submission') }}

),

regimes as (

    select * from {{ ref('dim_reporting_regime') }}

),

agencies as (

    select
        province_code,
        agency_code,
        max(agency_name) as agency_name,
        max(current_commune_code) as current_commune_code
    from {{ ref('dim_agency') }}
    group by province_code, agency_code

),

units as (

    select * from {{ ref('dim_admin_unit') }}

),

{#- Reports due per regime, reporting agency and month the period ends in: submitted on
    time, late, missing, and still pending (not yet due at the data's horizon). -#}
per_agency as (

    select
        province_code,
        period_month,
        regime_code,
        reporting_agency_code,
        unit_key,
        count(*) as report_count,
        sum(case when is_due then 1 else 0 end) as due_count,
        sum(case when submission_status = 'on_time' then 1 else 0 end) as on_time_count,
        sum(case when submission_status = 'late' then 1 else 0 end) as late_count,
        sum(case when submission_status = 'missing' then 1 else 0 end) as missing_count,
        sum(case when submission_status = 'pending' then 1 else 0 end) as pending_count,
        sum(coalesce(days_late, 0)) as days_late_sum
    from reports
    group by 1, 2, 3, 4, 5

),

final as (

    select
        per_agency.province_code,
        per_agency.period_month,
        per_agency.regime_code,
        coalesce(regimes.regime_name, per_agency.regime_code) as regime_name,
        regimes.frequency,
        per_agency.reporting_agency_code as agency_code,
        coalesce(agencies.agency_name, per_agency.reporting_agency_code) as agency_name,
        per_agency.unit_key,
        units.unit_code,
        units.unit_name,
        units.unit_level,
        agencies.current_commune_code,
        cast(per_agency.report_count as bigint) as report_count,
        cast(per_agency.due_count as bigint) as due_count,
        cast(per_agency.on_time_count as bigint) as on_time_count,
        cast(per_agency.late_count as bigint) as late_count,
        cast(per_agency.missing_count as bigint) as missing_count,
        cast(per_agency.pending_count as bigint) as pending_count,
        cast(per_agency.days_late_sum as bigint) as days_late_sum
    from per_agency
    left join regimes
        on per_agency.province_code = regimes.province_code
        and per_agency.regime_code = regimes.regime_code
    left join agencies
        on per_agency.province_code = agencies.province_code
        and per_agency.reporting_agency_code = agencies.agency_code
    left join units on per_agency.unit_key = units.unit_key

)

select * from final
