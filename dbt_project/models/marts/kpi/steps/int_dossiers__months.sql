with

dossiers as (

    select * from {{ ref('fct_dossier') }}

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

received as (

    select
        dossier_code,
        unit_code,
        unit_key,
        unit_level,
        province_code,
        received_date,
        received_working_day_ordinal,
        due_working_day_ordinal,
        clock_end_date,
        measured_working_day_ordinal as clock_end_working_day_ordinal
    from dossiers
    where is_received and due_date is not null

),

first_received as (

    select province_code, min(received_date) as first_received_date
    from received
    group by province_code

),

{#- Each province's months from its first reception to its data's last day; a month is
    measured on its last day, the current one on the data's last day. -#}
periods as (

    select
        as_of.province_code,
        calendar.month_start as period_month,
        calendar.date_day as period_measured_on,
        calendar.working_day_ordinal as period_measured_working_day_ordinal
    from calendar
    cross join as_of
    inner join first_received on as_of.province_code = first_received.province_code
    where calendar.date_day = case
        when calendar.month_end < as_of.as_of_date then calendar.month_end
        else as_of.as_of_date
    end
        and calendar.month_end >= first_received.first_received_date
        and calendar.month_start <= as_of.as_of_date

),

dossier_months as (

    -- A dossier is in process in every month from its reception to the end of its clock.
    select
        received.dossier_code,
        periods.period_month,
        received.unit_code,
        received.unit_key,
        received.unit_level,
        received.province_code,
        received.clock_end_date is not null
            and received.clock_end_date <= periods.period_measured_on as is_clock_ended,
        case
            when received.clock_end_date is not null
                and received.clock_end_date <= periods.period_measured_on
                then received.clock_end_date
            else periods.period_measured_on
        end as measured_on,
        case
            when received.clock_end_date is not null
                and received.clock_end_date <= periods.period_measured_on
                then received.clock_end_working_day_ordinal
            else periods.period_measured_working_day_ordinal
        end as measured_working_day_ordinal,
        received.received_working_day_ordinal,
        received.due_working_day_ordinal
    from received
    inner join periods
        on received.province_code = periods.province_code
        and periods.period_month <= coalesce(received.clock_end_date, periods.period_measured_on)
        and periods.period_measured_on >= received.received_date

),

paused as (

    -- Supplement time up to the day the month measures the dossier on.
    select
        dossier_months.province_code,
        dossier_months.dossier_code,
        dossier_months.period_month,
        cast(sum(
            case
                when episodes.start_date > dossier_months.measured_on then 0
                when episodes.end_date is null or episodes.end_date > dossier_months.measured_on
                    then dossier_months.measured_working_day_ordinal
                        - episodes.start_working_day_ordinal
                else episodes.end_working_day_ordinal - episodes.start_working_day_ordinal
            end
        ) as integer) as supplement_working_days
    from dossier_months
    inner join episodes
        on dossier_months.province_code = episodes.province_code
        and dossier_months.dossier_code = episodes.dossier_code
    group by dossier_months.province_code, dossier_months.dossier_code, dossier_months.period_month

),

judged as (

    -- On time: ended, or still open on the measured day, within the working days its due
    -- date allowed, supplement time not counted.
    select
        dossier_months.dossier_code,
        dossier_months.period_month,
        dossier_months.unit_code,
        dossier_months.unit_key,
        dossier_months.unit_level,
        dossier_months.province_code,
        dossier_months.measured_on,
        dossier_months.is_clock_ended,
        coalesce(paused.supplement_working_days, 0) as supplement_working_days,
        dossier_months.measured_working_day_ordinal
            - dossier_months.received_working_day_ordinal
            - coalesce(paused.supplement_working_days, 0) as used_working_days,
        dossier_months.due_working_day_ordinal - dossier_months.received_working_day_ordinal
            as allowed_working_days
    from dossier_months
    left join paused
        on dossier_months.province_code = paused.province_code
        and dossier_months.dossier_code = paused.dossier_code
        and dossier_months.period_month = paused.period_month

),

final as (

    select
        *,
        coalesce(used_working_days <= allowed_working_days, false) as is_on_time
    from judged

)

select * from final
