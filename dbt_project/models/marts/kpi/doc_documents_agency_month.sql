with

documents as (

    select * from {{ ref('fct_document') }}

),

agencies as (

    select province_code, agency_code, max(agency_name) as agency_name
    from {{ ref('dim_agency') }}
    group by province_code, agency_code

),

units as (

    select * from {{ ref('dim_admin_unit') }}

),

current_communes as (

    select * from {{ ref('int_admin_units__current_units') }}
    where current_unit_level = 'commune' and is_default_successor

),

{#- The Decree 30/2020 shares per sending agency and month: sent electronically (secret
    documents excluded), digitally signed (of the electronic ones), and the receipts its
    documents got, acknowledged (03 accepted) the day they were sent. -#}
per_agency as (

    select
        province_code,
        cast(date_trunc('month', sent_date) as date) as period_month,
        sender_agency_code,
        unit_key,
        count(*) as document_count,
        sum(case when is_secret then 1 else 0 end) as secret_count,
        sum(case when not is_secret then 1 else 0 end) as non_secret_count,
        sum(case when is_electronic then 1 else 0 end) as electronic_count,
        sum(case when is_electronic and is_signed then 1 else 0 end) as signed_count,
        sum(receipt_count) as receipt_count,
        sum(accepted_same_day_count) as accepted_same_day_count
    from documents
    group by 1, 2, 3, 4

),

final as (

    select
        per_agency.province_code,
        per_agency.period_month,
        per_agency.sender_agency_code as agency_code,
        coalesce(agencies.agency_name, per_agency.sender_agency_code) as agency_name,
        per_agency.unit_key,
        units.unit_code,
        units.unit_name,
        units.unit_level,
        current_communes.current_unit_code as current_commune_code,
        current_communes.current_unit_name as current_commune_name,
        cast(per_agency.document_count as bigint) as document_count,
        cast(per_agency.secret_count as bigint) as secret_count,
        cast(per_agency.non_secret_count as bigint) as non_secret_count,
        cast(per_agency.electronic_count as bigint) as electronic_count,
        cast(per_agency.signed_count as bigint) as signed_count,
        cast(per_agency.receipt_count as bigint) as receipt_count,
        cast(per_agency.accepted_same_day_count as bigint) as accepted_same_day_count
    from per_agency
    inner join units on per_agency.unit_key = units.unit_key
    left join current_communes on per_agency.unit_key = current_communes.recorded_unit_key
    left join agencies
        on per_agency.province_code = agencies.province_code
        and per_agency.sender_agency_code = agencies.agency_code

)

select * from final
