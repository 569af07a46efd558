{#- The covered range; keep in step with scripts/generate_vn_public_holidays.py. -#}
{%- set first_day = '2024-01-01' -%}
{%- set last_day = '2031-12-31' -%}

with

days as (

    {{ date_spine(first_day, last_day) }}

),

exceptions as (

    select * from {{ ref('vn_public_holidays') }}

),

classified as (

    select
        days.date_day,
        cast(extract(year from days.date_day) as integer) as year_number,
        cast(extract(month from days.date_day) as integer) as month_number,
        cast(extract(day from days.date_day) as integer) as day_of_month,
        cast({{ iso_day_of_week('days.date_day') }} as integer) as iso_day_of_week,
        cast(date_trunc('month', days.date_day) as date) as month_start,
        cast({{ iso_day_of_week('days.date_day') }} as integer) in (6, 7) as is_weekend,
        coalesce(exceptions.day_kind = 'day_off', false) as is_holiday,
        coalesce(exceptions.day_kind = 'working_weekend_day', false) as is_working_weekend_day,
        case when exceptions.day_kind = 'day_off' then exceptions.name_vi end as holiday_name
    from days
    left join exceptions on days.date_day = exceptions.calendar_date

),

working_days as (

    -- Monday to Friday less holidays and swapped days off, plus weekend days worked in exchange.
    select
        *,
        (not is_weekend and not is_holiday) or is_working_weekend_day as is_working_day
    from classified

),

ordinals as (

    -- working_day_ordinal counts the working days up to and including the day, so the working
    -- days after day a up to and including day b are ordinal(b) - ordinal(a).
    select
        date_day,
        year_number,
        month_number,
        day_of_month,
        iso_day_of_week,
        month_start,
        max(date_day) over (partition by month_start) as month_end,
        is_weekend,
        is_holiday,
        holiday_name,
        is_working_weekend_day,
        is_working_day,
        cast(sum(case when is_working_day then 1 else 0 end) over (
            order by date_day rows between unbounded preceding and current row
        ) as integer) as working_day_ordinal
    from working_days

)

select * from ordinals
