with

source as (

    select * from {{ source('documents', 'documents__status') }}

),

renamed as (

    select
        ---------- ids
        province_code,
        document_id,
        sender_code as sender_agency_code,
        receiver_code as receiver_agency_code,
        handler_key,

        ---------- codes (QCVN 102:2016/BTTTT StatusCode)
        status_code,
        case status_code
            when '01' then 'arrived'
            when '02' then 'rejected'
            when '03' then 'accepted'
            when '04' then 'assigned'
            when '05' then 'in_process'
            when '06' then 'completed'
            when '13' then 'recall_requested'
            when '15' then 'recall_accepted'
            when '16' then 'recall_refused'
        end as status_name,
        description as status_description,

        ---------- dates and timestamps (Asia/Ho_Chi_Minh local time)
        promulgation_date,
        status_at,
        batch_date,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
