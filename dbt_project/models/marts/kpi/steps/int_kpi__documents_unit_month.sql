with

documents as (

    select * from {{ ref('fct_document') }}

),

receipts as (

    select * from {{ ref('int_documents__receipts') }}

),

sent as (

    -- Each document once, on the unit its sender served, in the month it was sent.
    select
        cast(date_trunc('month', sent_at) as date) as period_month,
        unit_code,
        unit_key,
        unit_level,
        current_province_code,
        is_electronic,
        is_signed,
        is_secret
    from documents
    where unit_code is not null

),

{#- doc.electronic_sent: documents sent electronically / documents sent, state secrets excluded. -#}
electronic_sent as (

    select
        period_month,
        unit_code,
        unit_key,
        unit_level,
        current_province_code,
        'doc.electronic_sent' as kpi_code,
        cast(sum(case when is_electronic then 1 else 0 end) as bigint) as numerator,
        cast(count(*) as bigint) as denominator
    from sent
    where not is_secret
    group by 1, 2, 3, 4, 5

),

{#- doc.signed: electronic documents digitally signed / electronic documents sent. -#}
signed as (

    select
        period_month,
        unit_code,
        unit_key,
        unit_level,
        current_province_code,
        'doc.signed' as kpi_code,
        cast(sum(case when is_signed then 1 else 0 end) as bigint) as numerator,
        cast(count(*) as bigint) as denominator
    from sent
    where is_electronic
    group by 1, 2, 3, 4, 5

),

{#- doc.same_day_ack: receipts the receiver accepted (03) on the day of sending / receipts of
    electronic documents sent in the month; counted on the receiver's unit. -#}
same_day_ack as (

    select
        cast(date_trunc('month', sent_at) as date) as period_month,
        unit_code,
        unit_key,
        unit_level,
        current_province_code,
        'doc.same_day_ack' as kpi_code,
        cast(sum(case when is_accepted_same_day then 1 else 0 end) as bigint) as numerator,
        cast(count(*) as bigint) as denominator
    from receipts
    where unit_code is not null
    group by 1, 2, 3, 4, 5

),

combined as (

    select * from electronic_sent
    union all
    select * from signed
    union all
    select * from same_day_ack

)

select * from combined
