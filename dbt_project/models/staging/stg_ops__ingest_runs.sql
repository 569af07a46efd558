with

source as (

    select * from {{ source('ops', 'ingest_runs') }}

),

renamed as (

    select
        province_code,
        run_id,
        source as source_name,
        status,
        started_at,
        finished_at,
        rows_read,
        rows_loaded,
        rows_rejected,
        rows_duplicate,
        rows_read = rows_loaded + rows_rejected + rows_duplicate as reconciles,
        message
    from source

)

select * from renamed
