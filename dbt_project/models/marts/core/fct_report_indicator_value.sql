with

submissions as (

    select * from {{ ref('stg_reports__submissions') }}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

agencies as (

    select * from {{ ref('dim_agency') }}

),

{#- The value a report gives each indicator is its latest submitted version's: a
    resubmission corrects the figures. Version 0 (not submitted at export time) has none. -#}
ranked as (

    select
        *,
        row_number() over (
            partition by province_code, regime_code, period_label, reporting_agency_code,
                indicator_code
            order by submission_version desc
        ) as version_rank
    from submissions
    where submission_version >= 1

),

latest as (

    select * from ranked where version_rank = 1

),

final as (

    -- Agency codes were reused in 2025: the agency holding the code at the period's end.
    select
        latest.province_code,
        latest.regime_code,
        latest.regime_name,
        latest.period_label,
        latest.period_start,
        latest.period_end,
        cast(date_trunc('month', latest.period_end) as date) as period_month,
        latest.reporting_agency_code,
        latest.reporting_agency_name,
        agencies.unit_code,
        agencies.unit_key,
        agencies.unit_level,
        agencies.current_commune_code,
        latest.indicator_code,
        coalesce(indicators.indicator_name, latest.indicator_name) as indicator_name,
        coalesce(indicators.measure_unit, latest.measure_unit) as measure_unit,
        indicators.value_type,
        cast(latest.indicator_value as {{ type_double() }}) as indicator_value,
        cast(latest.submission_version as integer) as submission_version,
        latest.submitted_at
    from latest
    left join indicators
        on latest.province_code = indicators.province_code
        and latest.indicator_code = indicators.indicator_code
    left join agencies
        on latest.province_code = agencies.province_code
        and latest.reporting_agency_code = agencies.agency_code
        and latest.period_end >= coalesce(agencies.valid_from, date '0001-01-01')
        and latest.period_end <= coalesce(agencies.valid_to, date '9999-12-31')

)

select * from final
