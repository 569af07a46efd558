with

dossiers as (

    select * from {{ ref('int_dossiers__attributed') }}

),

events as (

    select * from {{ ref('fct_dossier_event') }}

),

episodes as (

    select * from {{ ref('int_dossiers__supplement_episodes') }}

),

as_of as (

    select * from {{ ref('int_procedures__as_of') }}

),

calendar as (

    select * from {{ ref('dim_date') }}

),

end_events as (

    select
        province_code,
        dossier_code,
        min(case when status_code = 9 then occurred_at end) as done_at,
        min(case when status_code = 10 then occurred_at end) as result_returned_at,
        min(case when status_code = 8 then occurred_at end) as stopped_at,
        min(case when status_code = 3 then occurred_at end) as refused_at,
        min(case when status_code = 7 then occurred_at end) as withdrawn_at,
        cast(sum(case when status_code = 5 then 1 else 0 end) as integer)
            as supplement_request_count
    from events
    group by province_code, dossier_code

),

{#- Decision 766: the clock ends at the first of done (9) > result returned (10) > stopped (8)
    or refused (3); a withdrawal (7) also ends it. Without such an event, the payload's
    NgayKetThucXuLy stands. -#}
clock_end as (

    select
        dossiers.province_code,
        dossiers.dossier_code,
        cast(dossiers.received_at as date) as received_date,
        cast(dossiers.due_at as date) as due_date,
        coalesce(
            end_events.done_at,
            end_events.result_returned_at,
            end_events.stopped_at,
            end_events.refused_at,
            end_events.withdrawn_at,
            dossiers.processing_ended_at
        ) as clock_ended_at,
        case
            when end_events.done_at is not null then 'done'
            when end_events.result_returned_at is not null then 'result_returned'
            when end_events.stopped_at is not null then 'stopped'
            when end_events.refused_at is not null then 'refused_at_reception'
            when end_events.withdrawn_at is not null then 'withdrawn'
            when dossiers.processing_ended_at is not null then
                case dossiers.status_code
                    when 3 then 'refused_at_reception'
                    when 7 then 'withdrawn'
                    when 8 then 'stopped'
                    when 9 then 'done'
                    when 10 then 'result_returned'
                    else 'ended'
                end
        end as clock_end_reason,
        coalesce(end_events.supplement_request_count, 0) as supplement_request_count
    from dossiers
    left join end_events
        on dossiers.province_code = end_events.province_code
        and dossiers.dossier_code = end_events.dossier_code

),

measured as (

    -- Open dossiers are measured on the data's last day.
    select
        clock_end.*,
        cast(clock_end.clock_ended_at as date) as clock_end_date,
        coalesce(cast(clock_end.clock_ended_at as date), as_of.as_of_date) as measured_on
    from clock_end
    inner join as_of on clock_end.province_code = as_of.province_code

),

paused as (

    -- Working days waiting for the applicant, up to the end of the clock (or the data's last day).
    select
        measured.province_code,
        measured.dossier_code,
        cast(sum(
            case
                when episodes.start_date > measured.measured_on then 0
                when episodes.end_date is null or episodes.end_date > measured.measured_on
                    then measured_day.working_day_ordinal - episodes.start_working_day_ordinal
                else episodes.end_working_day_ordinal - episodes.start_working_day_ordinal
            end
        ) as integer) as supplement_working_days
    from measured
    inner join episodes
        on measured.province_code = episodes.province_code
        and measured.dossier_code = episodes.dossier_code
    left join calendar as measured_day on measured.measured_on = measured_day.date_day
    group by measured.province_code, measured.dossier_code

),

ordinals as (

    select
        measured.province_code,
        measured.dossier_code,
        measured.received_date,
        measured.due_date,
        measured.clock_ended_at,
        measured.clock_end_date,
        measured.clock_end_reason,
        measured.measured_on,
        measured.supplement_request_count,
        coalesce(paused.supplement_working_days, 0) as supplement_working_days,
        received_day.working_day_ordinal as received_working_day_ordinal,
        due_day.working_day_ordinal as due_working_day_ordinal,
        measured_day.working_day_ordinal as measured_working_day_ordinal
    from measured
    left join paused
        on measured.province_code = paused.province_code
        and measured.dossier_code = paused.dossier_code
    left join calendar as received_day on measured.received_date = received_day.date_day
    left join calendar as due_day on measured.due_date = due_day.date_day
    left join calendar as measured_day on measured.measured_on = measured_day.date_day

)

select * from ordinals
