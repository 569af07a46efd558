with

source as (

    select * from {{ source('procedures', 'procedures__events') }}

),

renamed as (

    select
        ---------- ids
        province_code,
        record_key as dossier_code,
        handler_key,

        ---------- codes
        cast(status as integer) as status_code,
        department as department_code,

        ---------- timestamps (Asia/Ho_Chi_Minh local time)
        {{ portal_timestamp('occurred_at') }} as occurred_at,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
