with

events as (

    select * from {{ ref('fct_dossier_event') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

requests as (

    -- A supplement request (5) stops the clock until the dossier's next event.
    select
        province_code,
        dossier_code,
        event_sequence,
        occurred_at as started_at,
        occurred_date as start_date,
        next_occurred_at as ended_at,
        cast(next_occurred_at as date) as end_date
    from events
    where is_supplement_request

),

counted as (

    select
        requests.province_code,
        requests.dossier_code,
        requests.event_sequence,
        requests.started_at,
        requests.start_date,
        requests.ended_at,
        requests.end_date,
        started.working_day_ordinal as start_working_day_ordinal,
        ended.working_day_ordinal as end_working_day_ordinal
    from requests
    left join calendar as started on requests.start_date = started.date_day
    left join calendar as ended on requests.end_date = ended.date_day

)

select * from counted
