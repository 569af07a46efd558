with

statuses as (

    select * from {{ ref('stg_documents__statuses') }}

),

documents as (

    select province_code, document_id, coalesce(message_sent_at, sent_at) as sent_at
    from {{ ref('int_documents__documents') }}

),

agencies as (

    select * from {{ ref('dim_agency') }}

),

with_sending as (

    select
        statuses.province_code,
        statuses.document_id,
        statuses.receiver_agency_code,
        statuses.status_code,
        statuses.status_name,
        statuses.status_at,
        documents.sent_at
    from statuses
    left join documents
        on statuses.province_code = documents.province_code
        and statuses.document_id = documents.document_id

),

attributed as (

    -- Agency codes were reused in 2025: the receiver is the agency the code named on the
    -- status date (the code the ingestion checked).
    select
        with_sending.*,
        agencies.unit_code,
        agencies.unit_level,
        agencies.current_province_code
    from with_sending
    left join agencies
        on with_sending.province_code = agencies.province_code
        and with_sending.receiver_agency_code = agencies.agency_code
        and cast(with_sending.status_at as date)
            >= coalesce(agencies.valid_from, date '0001-01-01')
        and cast(with_sending.status_at as date)
            <= coalesce(agencies.valid_to, date '9999-12-31')

),

compute_durations as (

    select
        province_code,
        document_id,
        receiver_agency_code,
        unit_code as receiver_unit_code,
        unit_level as receiver_unit_level,
        current_province_code as receiver_province_code,
        status_code,
        status_name,
        status_at,
        sent_at as document_sent_at,
        cast({{ dbt.datediff('sent_at', 'status_at', 'second') }} as bigint)
            as seconds_since_sent,
        -- The same local calendar day as the sending (Decree 30/2020: an incoming document
        -- is registered the day it arrives, at the latest the next working day).
        cast(status_at as date) = cast(sent_at as date) as is_same_day
    from attributed

)

select * from compute_durations
