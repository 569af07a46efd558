with

source as (

    select * from {{ source('documents', 'documents__receivers') }}

),

renamed as (

    select
        ---------- ids
        province_code,
        document_id,
        receiver_code as receiver_agency_code,

        ---------- numerics
        position as receiver_position,

        ---------- timestamps (Asia/Ho_Chi_Minh local time)
        sent_at,
        batch_date,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
