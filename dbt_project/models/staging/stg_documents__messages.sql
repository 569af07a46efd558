with

source as (

    select * from {{ source('documents', 'documents__messages') }}

),

renamed as (

    select
        ---------- ids
        province_code,
        document_id,
        sender_code as sender_agency_code,
        cast(code_number as bigint) as code_number,
        code_notation,
        signer_key,

        ---------- codes and text
        type_code as document_type_code,
        type_name as document_type_name,
        priority as priority_code,
        subject,

        ---------- numerics
        receiver_count,
        page_amount as page_count,
        attachment_count,

        ---------- booleans
        is_signed,

        ---------- dates and timestamps (Asia/Ho_Chi_Minh local time)
        promulgation_date,
        due_date,
        sent_at,
        batch_date,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
