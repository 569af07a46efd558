{{ config(materialized='view') }}
{#- A view: freshness is measured when it is read, not when the warehouse was built. -#}

with

runs as (

    select * from {{ ref('stg_ops__ingest_runs') }}

),

state as (

    select * from {{ ref('stg_ops__source_state') }}

),

per_source as (

    select
        province_code,
        source_name,
        max(started_at) as last_run_at,
        max(case when status = 'success' then finished_at end) as last_success_at,
        max(case when status = 'success' and rows_loaded > 0 then finished_at end)
            as last_load_at,
        sum(rows_loaded) as rows_loaded_total,
        sum(case when status = 'failed' then 1 else 0 end) as failed_run_count
    from runs
    group by province_code, source_name

),

{#- How old a source may be before the data team should look: the dbt sources' freshness
    rules (procedures and documents daily, reports monthly). -#}
measured as (

    select
        per_source.*,
        case when per_source.source_name like 'reports.%' then 35 * 24 else 48 end
            as stale_after_hours,
        cast({{ dbt.datediff('per_source.last_success_at',
            utc_now(), 'minute') }}
            as {{ type_double() }}) / 60.0 as hours_since_success
    from per_source

),

final as (

    select
        measured.province_code,
        measured.source_name,
        split_part(measured.source_name, '.', 1) as source_system,
        measured.last_run_at,
        measured.last_success_at,
        measured.last_load_at,
        cast(measured.rows_loaded_total as bigint) as rows_loaded_total,
        cast(measured.failed_run_count as bigint) as failed_run_count,
        state.watermark,
        state.updated_at as watermark_updated_at,
        measured.hours_since_success,
        cast(measured.stale_after_hours as integer) as stale_after_hours,
        case
            when measured.last_success_at is null then 'never'
            when measured.hours_since_success > measured.stale_after_hours then 'stale'
            else 'fresh'
        end as freshness
    from measured
    left join state
        on measured.province_code = state.province_code
        and measured.source_name = state.source_name

)

select * from final
