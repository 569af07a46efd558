with

runs as (

    select * from {{ ref('stg_ops__ingest_runs') }}

),

final as (

    select
        run_id,
        province_code,
        source_name,
        split_part(source_name, '.', 1) as source_system,
        status,
        started_at,
        finished_at,
        cast(started_at as date) as run_date,
        cast({{ dbt.datediff('started_at', 'finished_at', 'second') }} as {{ type_double() }})
            as duration_seconds,
        rows_read,
        rows_loaded,
        rows_rejected,
        rows_duplicate,
        reconciles,
        message
    from runs

)

select * from final
