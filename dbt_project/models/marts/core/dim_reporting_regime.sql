with

regimes as (

    select * from {{ ref('stg_reports__regimes') }}

),

as_text as (

    -- JSON arrays read as text the same way on DuckDB (json), PostgreSQL (jsonb) and Spark.
    select
        regimes.*,
        cast(reporting_kinds as {{ type_text() }}) as kinds_text,
        replace(replace(cast(indicator_codes as {{ type_text() }}), ' ', ''), '"', '') as indicators_text
    from regimes

),

final as (

    select
        province_code,
        regime_code,
        regime_name,
        issuing_body,
        frequency,
        deadline_rule,
        deadline_value,
        kinds_text like '%"commune_committee"%' as is_reported_by_communes,
        kinds_text like '%"district_committee"%' as is_reported_by_districts,
        kinds_text like '%"department"%' as is_reported_by_departments,
        kinds_text like '%"service_centre"%' as is_reported_by_service_centres,
        kinds_text like '%"province_committee"%' as is_reported_by_province_committee,
        departments is not null as is_limited_to_some_departments,
        -- Indicator codes hold no comma: the array's length is its commas plus one.
        case
            when indicators_text is null or indicators_text = '[]' then 0
            else length(indicators_text) - length(replace(indicators_text, ',', '')) + 1
        end as indicator_count
    from as_text

)

select * from final
