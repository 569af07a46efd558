with

source as (

    select * from {{ source('documents', 'documents__register') }}

),

renamed as (

    select
        ---------- ids
        province_code,
        document_id,
        sender_code as sender_agency_code,
        receiver_codes as receiver_agency_codes,
        cast(code_number as bigint) as code_number,
        code_notation,

        ---------- codes
        type_code as document_type_code,
        type_name as document_type_name,
        priority as priority_code,

        ---------- numerics
        receiver_count,
        page_amount as page_count,

        ---------- booleans
        is_electronic,
        is_signed,
        is_secret,

        ---------- dates and timestamps (Asia/Ho_Chi_Minh local time)
        promulgation_date,
        sent_at,
        batch_date,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
