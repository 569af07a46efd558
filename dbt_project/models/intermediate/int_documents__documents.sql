with

register_versions as (

    select * from {{ ref('stg_documents__register') }}

),

message_versions as (

    select * from {{ ref('stg_documents__messages') }}

),

register as (

    -- A document's newest register row (a window: far cheaper than distinct on here).
    select *
    from (
        select
            register_versions.*,
            row_number() over (
                partition by province_code, document_id order by sent_at desc, loaded_at desc
            ) as version_rank
        from register_versions
    ) as ranked
    where version_rank = 1

),

messages as (

    select *
    from (
        select
            message_versions.*,
            row_number() over (
                partition by province_code, document_id order by sent_at desc, loaded_at desc
            ) as version_rank
        from message_versions
    ) as ranked
    where version_rank = 1

),

documents as (

    -- The register lists every outgoing document; an edXML message whose register row is
    -- missing (rejected at ingestion) still proves an electronic document.
    select
        coalesce(register.province_code, messages.province_code) as province_code,
        coalesce(register.document_id, messages.document_id) as document_id,
        coalesce(register.sender_agency_code, messages.sender_agency_code) as sender_agency_code,
        coalesce(register.code_number, messages.code_number) as code_number,
        coalesce(register.code_notation, messages.code_notation) as code_notation,
        coalesce(register.document_type_code, messages.document_type_code) as document_type_code,
        coalesce(register.document_type_name, messages.document_type_name) as document_type_name,
        coalesce(register.priority_code, messages.priority_code) as priority_code,
        messages.subject,
        coalesce(register.page_count, messages.page_count) as page_count,
        coalesce(register.receiver_count, messages.receiver_count) as receiver_count,
        messages.attachment_count,
        coalesce(register.promulgation_date, messages.promulgation_date) as promulgation_date,
        coalesce(register.sent_at, messages.sent_at) as sent_at,
        messages.sent_at as message_sent_at,
        messages.due_date,
        coalesce(register.is_secret, false) as is_secret,
        messages.document_id is not null or coalesce(register.is_electronic, false)
            as is_electronic,
        -- The XML-DSig signature of the message is the evidence; the register otherwise.
        coalesce(messages.is_signed, register.is_signed, false) as is_signed,
        register.document_id is not null as is_in_register
    from register
    full outer join messages
        on register.province_code = messages.province_code
        and register.document_id = messages.document_id

)

select * from documents
