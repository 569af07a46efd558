with

documents as (

    select * from {{ ref('int_documents__documents') }}

),

receipts as (

    select * from {{ ref('int_documents__receipts') }}

),

agencies as (

    select * from {{ ref('dim_agency') }}

),

receipt_counts as (

    select
        province_code,
        document_id,
        count(*) as receipt_count,
        sum(case when arrived_at is not null then 1 else 0 end) as arrived_count,
        sum(case when is_accepted_same_day then 1 else 0 end) as accepted_same_day_count
    from receipts
    group by 1, 2

),

attributed as (

    -- Agency codes were reused in 2025: the sender is the agency the code named on the
    -- promulgation date (the date the ingestion checked the code against).
    select
        documents.*,
        agencies.unit_code,
        agencies.unit_key,
        agencies.unit_level,
        agencies.current_province_code
    from documents
    left join agencies
        on documents.province_code = agencies.province_code
        and documents.sender_agency_code = agencies.agency_code
        and documents.promulgation_date >= coalesce(agencies.valid_from, date '0001-01-01')
        and documents.promulgation_date <= coalesce(agencies.valid_to, date '9999-12-31')

),

final as (

    select
        attributed.province_code,
        attributed.document_id,
        attributed.code_number,
        attributed.code_notation,
        attributed.sender_agency_code,
        attributed.unit_code,
        attributed.unit_key,
        attributed.unit_level,
        attributed.current_province_code,
        attributed.document_type_code,
        attributed.document_type_name,
        attributed.priority_code,
        attributed.subject,
        attributed.page_count,
        attributed.attachment_count,
        attributed.promulgation_date,
        attributed.sent_at,
        cast(attributed.sent_at as date) as sent_date,
        attributed.due_date,
        attributed.is_electronic,
        not attributed.is_electronic and not attributed.is_secret as is_paper,
        attributed.is_secret,
        attributed.is_signed and attributed.is_electronic as is_signed,
        attributed.is_in_register,
        attributed.receiver_count,
        cast(coalesce(receipt_counts.receipt_count, 0) as bigint) as receipt_count,
        cast(coalesce(receipt_counts.arrived_count, 0) as bigint) as arrived_count,
        cast(coalesce(receipt_counts.accepted_same_day_count, 0) as bigint)
            as accepted_same_day_count
    from attributed
    left join receipt_counts
        on attributed.province_code = receipt_counts.province_code
        and attributed.document_id = receipt_counts.document_id

)

select * from final
