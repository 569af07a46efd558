with

dossiers as (

    select * from {{ ref('fct_dossier') }}

),

procedures as (

    select * from {{ ref('dim_procedure') }}

),

current_units as (

    select * from {{ ref('int_admin_units__current_units') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

fields as (

    select province_code, field_code, min(field_name) as field_name
    from procedures
    group by 1, 2

),

{#- Each dossier counts in the month it was received, and (if finished) in the month its clock
    ended, with its timeliness then. -#}
received as (

    select
        dossiers.province_code,
        calendar.month_start as period_month,
        dossiers.unit_key,
        dossiers.field_code,
        dossiers.channel,
        1 as received,
        0 as finished,
        0 as finished_on_time,
        0 as finished_late
    from dossiers
    inner join calendar on dossiers.received_date = calendar.date_day
    where dossiers.is_received

),

finished as (

    select
        dossiers.province_code,
        calendar.month_start as period_month,
        dossiers.unit_key,
        dossiers.field_code,
        dossiers.channel,
        0 as received,
        1 as finished,
        case when dossiers.timeliness in ('early', 'on_time') then 1 else 0 end
            as finished_on_time,
        case when dossiers.timeliness = 'late' then 1 else 0 end as finished_late
    from dossiers
    inner join calendar on dossiers.clock_end_date = calendar.date_day
    where dossiers.is_received and dossiers.is_finished and dossiers.timeliness is not null

),

events as (

    select * from received
    union all
    select * from finished

),

{#- On today's units: a dossier counts in today's province and, if recorded on a commune, in
    the commune it became (a split commune's dossiers shared among its successors by weight,
    so counts can be fractional). -#}
restated as (

    select
        events.province_code,
        events.period_month,
        current_units.current_unit_key as unit_key,
        coalesce(events.field_code, 'unknown') as field_code,
        events.channel,
        sum(events.received * current_units.weight) as received,
        sum(events.finished * current_units.weight) as finished,
        sum(events.finished_on_time * current_units.weight) as finished_on_time,
        sum(events.finished_late * current_units.weight) as finished_late
    from events
    inner join current_units on events.unit_key = current_units.recorded_unit_key
    group by 1, 2, 3, 4, 5

),

final as (

    select
        restated.province_code,
        restated.period_month,
        current_units.current_unit_code as unit_code,
        current_units.current_unit_name as unit_name,
        current_units.current_unit_level as unit_level,
        restated.field_code,
        coalesce(fields.field_name, 'Không rõ lĩnh vực') as field_name,
        restated.channel,
        cast(restated.received as {{ type_double() }}) as received,
        cast(restated.finished as {{ type_double() }}) as finished,
        cast(restated.finished_on_time as {{ type_double() }}) as finished_on_time,
        cast(restated.finished_late as {{ type_double() }}) as finished_late,
        {{ safe_rate('restated.finished_on_time', 'restated.finished') }} as on_time_rate
    from restated
    inner join (
        select distinct current_unit_key, current_unit_code, current_unit_name, current_unit_level
        from current_units
    ) as current_units
        on restated.unit_key = current_units.current_unit_key
    left join fields
        on restated.province_code = fields.province_code
        and restated.field_code = fields.field_code

)

select * from final
