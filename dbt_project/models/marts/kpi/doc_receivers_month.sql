with

receipts as (

    select * from {{ ref('int_documents__receipts') }}

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

{#- How fast each receiving agency acknowledges what it is sent: hours from sending to its
    03 accepted status, and the receipts never acknowledged. The slowest receivers are the
    ones with the lowest same-day share. -#}
per_receiver as (

    select
        province_code,
        cast(date_trunc('month', sent_at) as date) as period_month,
        receiver_agency_code,
        unit_key,
        count(*) as receipt_count,
        sum(case when is_accepted_same_day then 1 else 0 end) as accepted_same_day_count,
        sum(case when accepted_at is not null then 1 else 0 end) as accepted_count,
        sum(case when accepted_at is null then 1 else 0 end) as not_accepted_count,
        sum(case when accepted_at is not null
            then {{ hours_between('sent_at', 'accepted_at') }} else 0 end)
            as hours_to_accept_sum
    from receipts
    group by 1, 2, 3, 4

),

final as (

    select
        per_receiver.province_code,
        per_receiver.period_month,
        per_receiver.receiver_agency_code as agency_code,
        coalesce(agencies.agency_name, per_receiver.receiver_agency_code) as agency_name,
        per_receiver.unit_key,
        units.unit_code,
        units.unit_name,
        units.unit_level,
        current_communes.current_unit_code as current_commune_code,
        current_communes.current_unit_name as current_commune_name,
        cast(per_receiver.receipt_count as bigint) as receipt_count,
        cast(per_receiver.accepted_same_day_count as bigint) as accepted_same_day_count,
        cast(per_receiver.accepted_count as bigint) as accepted_count,
        cast(per_receiver.not_accepted_count as bigint) as not_accepted_count,
        cast(per_receiver.hours_to_accept_sum as {{ type_double() }}) as hours_to_accept_sum
    from per_receiver
    left join units on per_receiver.unit_key = units.unit_key
    left join current_communes on per_receiver.unit_key = current_communes.recorded_unit_key
    left join agencies
        on per_receiver.province_code = agencies.province_code
        and per_receiver.receiver_agency_code = agencies.agency_code

)

select * from final
