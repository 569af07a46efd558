with

kpis as (

    -- The province on today's boundaries.
    select * from {{ ref('kpi_unit_month') }}
    where boundaries = 'current' and unit_level = 'province'

),

targets as (

    select * from {{ ref('digital_government_targets') }}

),

document_report_targets as (

    select * from {{ ref('kpi_definitions_documents_reports') }}

),

{#- One row per indicator with its 2025 and 2030 targets for the province: the national
    targets an indicator measures, and the document and reporting indicators' own ones. -#}
kpi_targets as (

    select
        kpi_code,
        max(case when target_year = 2025 then target_rate end) as target_2025,
        max(case when target_year = 2030 then target_rate end) as target_2030
    from targets
    where kpi_code is not null and unit_level in ('province', 'all')
    group by kpi_code

    union all

    select
        kpi_code,
        target_2025,
        target_2030
    from document_report_targets
    where target_2025 is not null or target_2030 is not null

),

final as (

    select
        kpis.period_month,
        kpis.unit_code,
        kpis.unit_name,
        kpis.kpi_code,
        kpis.kpi_name,
        kpis.numerator,
        kpis.denominator,
        kpis.rate,
        cast(kpi_targets.target_2025 as {{ type_double() }}) as target_2025,
        cast(kpi_targets.target_2030 as {{ type_double() }}) as target_2030
    from kpis
    inner join kpi_targets on kpis.kpi_code = kpi_targets.kpi_code

)

select * from final
