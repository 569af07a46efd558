with

dossiers as (

    select * from {{ ref('fct_dossier') }}

),

dossier_months as (

    select * from {{ ref('int_dossiers__months') }}

),

procedures as (

    select * from {{ ref('dim_procedure') }}

),

agencies as (

    -- One name per agency code (an agency keeps its name across its validity periods).
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

{#- Three events put a dossier in a month: its reception, the end of its clock, and being
    open on the month's last day (backlog). Each contributes its own counts; the mart sums
    them per month, unit, agency, field and procedure. -#}
received as (

    select
        province_code,
        cast(date_trunc('month', received_date) as date) as period_month,
        unit_key, agency_code, field_code, procedure_code,
        count(*) as received_count,
        sum(case when channel = 'online' then 1 else 0 end) as received_online,
        sum(case when channel = 'in_person' then 1 else 0 end) as received_in_person,
        sum(case when channel = 'postal' then 1 else 0 end) as received_postal,
        sum(case when is_fee_bearing and has_nonzero_fee then 1 else 0 end) as fee_bearing_count,
        sum(case when is_fee_bearing and has_nonzero_fee and is_paid_online then 1 else 0 end)
            as paid_online_count,
        sum(case when has_digitised_inputs then 1 else 0 end) as digitised_inputs_count,
        0 as finished_count, 0 as finished_early, 0 as finished_on_time, 0 as finished_late,
        0 as processing_working_days_sum,
        0 as open_at_month_end, 0 as overdue_at_month_end
    from dossiers
    where is_received
    group by 1, 2, 3, 4, 5, 6

),

finished as (

    select
        province_code,
        cast(date_trunc('month', clock_end_date) as date) as period_month,
        unit_key, agency_code, field_code, procedure_code,
        0, 0, 0, 0, 0, 0, 0,
        count(*),
        sum(case when timeliness = 'early' then 1 else 0 end),
        sum(case when timeliness = 'on_time' then 1 else 0 end),
        sum(case when timeliness = 'late' then 1 else 0 end),
        sum(coalesce(processing_working_days, 0)),
        0, 0
    from dossiers
    where is_received and is_clock_ended and clock_end_date is not null
    group by 1, 2, 3, 4, 5, 6

),

backlog as (

    select
        dossiers.province_code,
        dossier_months.period_month,
        dossiers.unit_key, dossiers.agency_code, dossiers.field_code, dossiers.procedure_code,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        count(*),
        sum(case when dossier_months.used_working_days > dossier_months.allowed_working_days
            then 1 else 0 end)
    from dossier_months
    inner join dossiers
        on dossier_months.province_code = dossiers.province_code
        and dossier_months.dossier_code = dossiers.dossier_code
    where not dossier_months.is_clock_ended
    group by 1, 2, 3, 4, 5, 6

),

events as (

    select * from received
    union all
    select * from finished
    union all
    select * from backlog

),

totals as (

    select
        province_code, period_month, unit_key, agency_code, field_code, procedure_code,
        sum(received_count) as received_count,
        sum(received_online) as received_online,
        sum(received_in_person) as received_in_person,
        sum(received_postal) as received_postal,
        sum(fee_bearing_count) as fee_bearing_count,
        sum(paid_online_count) as paid_online_count,
        sum(digitised_inputs_count) as digitised_inputs_count,
        sum(finished_count) as finished_count,
        sum(finished_early) as finished_early,
        sum(finished_on_time) as finished_on_time,
        sum(finished_late) as finished_late,
        sum(processing_working_days_sum) as processing_working_days_sum,
        sum(open_at_month_end) as open_at_month_end,
        sum(overdue_at_month_end) as overdue_at_month_end
    from events
    group by 1, 2, 3, 4, 5, 6

),

final as (

    select
        totals.province_code,
        totals.period_month,
        totals.unit_key,
        units.unit_code,
        units.unit_name,
        units.unit_level,
        current_communes.current_unit_code as current_commune_code,
        current_communes.current_unit_name as current_commune_name,
        totals.agency_code,
        coalesce(agencies.agency_name, totals.agency_code) as agency_name,
        totals.field_code,
        coalesce(procedures.field_name, totals.field_code) as field_name,
        totals.procedure_code,
        coalesce(procedures.procedure_name, totals.procedure_code) as procedure_name,
        cast(totals.received_count as bigint) as received_count,
        cast(totals.received_online as bigint) as received_online,
        cast(totals.received_in_person as bigint) as received_in_person,
        cast(totals.received_postal as bigint) as received_postal,
        cast(totals.fee_bearing_count as bigint) as fee_bearing_count,
        cast(totals.paid_online_count as bigint) as paid_online_count,
        cast(totals.digitised_inputs_count as bigint) as digitised_inputs_count,
        cast(totals.finished_count as bigint) as finished_count,
        cast(totals.finished_early as bigint) as finished_early,
        cast(totals.finished_on_time as bigint) as finished_on_time,
        cast(totals.finished_late as bigint) as finished_late,
        cast(totals.processing_working_days_sum as {{ type_double() }}) as processing_working_days_sum,
        cast(totals.open_at_month_end as bigint) as open_at_month_end,
        cast(totals.overdue_at_month_end as bigint) as overdue_at_month_end
    from totals
    inner join units on totals.unit_key = units.unit_key
    left join current_communes on totals.unit_key = current_communes.recorded_unit_key
    left join agencies
        on totals.province_code = agencies.province_code
        and totals.agency_code = agencies.agency_code
    left join procedures
        on totals.province_code = procedures.province_code
        and totals.procedure_code = procedures.procedure_code

)

select * from final
