with

documents as (

    select * from {{ ref('fct_document') }}

),

agencies as (

    select * from {{ ref('dim_agency') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

{#- State-secret documents are left out of the open statistics altogether. An agency code
    reused after 1 July 2025 names the agency in force on the day of sending. -#}
sent as (

    select
        documents.province_code,
        calendar.month_start as period_month,
        documents.sender_agency_code as agency_code,
        agencies.agency_name,
        agencies.agency_kind,
        documents.is_electronic,
        documents.is_signed,
        documents.receipt_count,
        documents.accepted_same_day_count
    from documents
    inner join calendar on documents.sent_date = calendar.date_day
    left join agencies
        on documents.province_code = agencies.province_code
        and documents.sender_agency_code = agencies.agency_code
        and documents.sent_date >= coalesce(agencies.valid_from, date '0001-01-01')
        and documents.sent_date <= coalesce(agencies.valid_to, date '9999-12-31')
    where not coalesce(documents.is_secret, false)

),

final as (

    select
        province_code,
        period_month,
        agency_code,
        coalesce(max(agency_name), agency_code) as agency_name,
        max(agency_kind) as agency_kind,
        cast(count(*) as {{ type_double() }}) as documents_sent,
        cast(sum(case when is_electronic then 1 else 0 end) as {{ type_double() }})
            as documents_sent_electronically,
        cast(sum(case when is_electronic and is_signed then 1 else 0 end) as {{ type_double() }})
            as documents_signed_digitally,
        {{ safe_rate('sum(case when is_electronic then 1 else 0 end)', 'count(*)') }}
            as electronic_rate,
        cast(sum(coalesce(receipt_count, 0)) as {{ type_double() }}) as receipts,
        cast(sum(coalesce(accepted_same_day_count, 0)) as {{ type_double() }})
            as receipts_accepted_same_day,
        {{ safe_rate('sum(coalesce(accepted_same_day_count, 0))',
                     'sum(coalesce(receipt_count, 0))') }} as same_day_acceptance_rate
    from sent
    group by 1, 2, 3

)

select * from final
