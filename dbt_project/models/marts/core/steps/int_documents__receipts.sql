with

receivers as (

    select * from {{ ref('stg_documents__receivers') }}

),

documents as (

    select province_code, document_id, message_sent_at, promulgation_date
    from {{ ref('int_documents__documents') }}
    where is_electronic

),

statuses as (

    select * from {{ ref('stg_documents__statuses') }}

),

agencies as (

    select * from {{ ref('dim_agency') }}

),

current_receivers as (

    -- Only the receivers of the document's current message version (receivers are kept per
    -- message version, keyed by its sending time).
    select
        receivers.province_code,
        receivers.document_id,
        receivers.receiver_agency_code,
        receivers.receiver_position,
        documents.message_sent_at as sent_at,
        documents.promulgation_date
    from receivers
    inner join documents
        on receivers.province_code = documents.province_code
        and receivers.document_id = documents.document_id
        and receivers.sent_at = documents.message_sent_at

),

status_times as (

    -- The first time each stage was reported per receipt (a status sent again counts once).
    select
        province_code,
        document_id,
        receiver_agency_code,
        min(case when status_code = '01' then status_at end) as arrived_at,
        min(case when status_code = '02' then status_at end) as rejected_at,
        min(case when status_code = '03' then status_at end) as accepted_at,
        min(case when status_code = '04' then status_at end) as assigned_at,
        min(case when status_code = '05' then status_at end) as in_process_at,
        min(case when status_code = '06' then status_at end) as completed_at
    from statuses
    group by 1, 2, 3

),

attributed as (

    -- The receiver is the agency its code named on the promulgation date, the date the
    -- ingestion checked the To codes against.
    select
        current_receivers.*,
        agencies.unit_code,
        agencies.unit_key,
        agencies.unit_level,
        agencies.current_province_code
    from current_receivers
    left join agencies
        on current_receivers.province_code = agencies.province_code
        and current_receivers.receiver_agency_code = agencies.agency_code
        and current_receivers.promulgation_date
            >= coalesce(agencies.valid_from, date '0001-01-01')
        and current_receivers.promulgation_date
            <= coalesce(agencies.valid_to, date '9999-12-31')

),

compute_booleans as (

    select
        attributed.province_code,
        attributed.document_id,
        attributed.receiver_agency_code,
        attributed.receiver_position,
        attributed.unit_code,
        attributed.unit_key,
        attributed.unit_level,
        attributed.current_province_code,
        attributed.sent_at,
        status_times.arrived_at,
        status_times.rejected_at,
        status_times.accepted_at,
        status_times.assigned_at,
        status_times.in_process_at,
        status_times.completed_at,
        coalesce(cast(status_times.arrived_at as date) = cast(attributed.sent_at as date), false)
            as is_arrived_same_day,
        coalesce(cast(status_times.accepted_at as date) = cast(attributed.sent_at as date), false)
            as is_accepted_same_day
    from attributed
    left join status_times
        on attributed.province_code = status_times.province_code
        and attributed.document_id = status_times.document_id
        and attributed.receiver_agency_code = status_times.receiver_agency_code

)

select * from compute_booleans
