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

{#- Each indicator counts a dossier once, on the unit of its agency at reception; numerators
    and denominators are additive across units. Formulas: seeds/kpi_definitions.csv. -#}

received as (

    -- 766.3.3 online dossiers, 766.3.5 online payment, 766.4.3 reuse: by month received.
    select
        cast(date_trunc('month', received_at) as date) as period_month,
        unit_code,
        unit_key,
        unit_level,
        province_code as current_province_code,
        count(*) as received_count,
        sum(case when is_online then 1 else 0 end) as online_count,
        sum(case when is_fee_bearing then 1 else 0 end) as fee_bearing_count,
        sum(case when is_fee_bearing and is_paid_online then 1 else 0 end) as paid_online_count,
        sum(case when has_reused_inputs then 1 else 0 end) as reused_count
    from dossiers
    where is_received
    group by 1, 2, 3, 4, 5

),

ended as (

    -- 766.2.2 processing time, 766.4.1 electronic result, 766.4.2 digitisation, 766.5.4
    -- satisfaction: by month the clock ended.
    select
        cast(date_trunc('month', clock_end_date) as date) as period_month,
        unit_code,
        unit_key,
        unit_level,
        province_code as current_province_code,
        sum(case when is_finished then 1 else 0 end) as finished_count,
        sum(case when is_finished then processing_working_days else 0 end)
            as finished_working_days,
        sum(case when is_finished and is_late then 1 else 0 end) as finished_late_count,
        sum(case when is_finished and has_complaint then 1 else 0 end)
            as finished_complaint_count,
        sum(case when has_result then 1 else 0 end) as result_count,
        sum(case when has_result and is_fully_digitised then 1 else 0 end)
            as fully_digitised_count,
        sum(case when has_result and requires_result_document then 1 else 0 end)
            as result_required_count,
        sum(case when has_result and requires_result_document and has_electronic_result
            then 1 else 0 end) as electronic_result_count
    from dossiers
    where is_received and is_clock_ended
    group by 1, 2, 3, 4, 5

),

in_process as (

    -- 766.2.1 on time: every dossier received or in process in the month.
    select
        period_month,
        unit_code,
        unit_key,
        unit_level,
        province_code as current_province_code,
        sum(case when is_on_time then 1 else 0 end) as on_time_count,
        count(*) as in_process_count
    from dossier_months
    group by 1, 2, 3, 4, 5

),

catalogue as (

    -- 766.3.1 and 766.3.2: each province's catalogue, for every month it has dossiers.
    select
        province_code,
        cast(sum(case when is_online_service then 1 else 0 end) as bigint) as online_count,
        cast(sum(case when is_full_process_online then 1 else 0 end) as bigint)
            as full_process_count,
        count(*) as procedure_count
    from procedures
    group by province_code

),

province_months as (

    -- The catalogue is today's: its rows are on today's province.
    select distinct received.period_month, received.current_province_code, provinces.unit_key
    from received
    inner join {{ ref('dim_admin_unit') }} as provinces
        on received.current_province_code = provinces.unit_code
        and provinces.unit_level = 'province'
        and provinces.is_current

),

indicators as (

    select period_month, unit_code, unit_key, unit_level, current_province_code,
        '766.2.1' as kpi_code, on_time_count as numerator, in_process_count as denominator
    from in_process

    union all

    select period_month, unit_code, unit_key, unit_level, current_province_code,
        '766.2.2', finished_working_days, finished_count
    from ended
    where finished_count > 0

    union all

    select province_months.period_month, province_months.current_province_code,
        province_months.unit_key, 'province', province_months.current_province_code, '766.3.1', catalogue.online_count,
        catalogue.procedure_count
    from province_months
    inner join catalogue on province_months.current_province_code = catalogue.province_code
    where catalogue.procedure_count > 0

    union all

    select province_months.period_month, province_months.current_province_code,
        province_months.unit_key, 'province', province_months.current_province_code, '766.3.2', catalogue.full_process_count,
        catalogue.procedure_count
    from province_months
    inner join catalogue on province_months.current_province_code = catalogue.province_code
    where catalogue.procedure_count > 0

    union all

    select period_month, unit_code, unit_key, unit_level, current_province_code,
        '766.3.3', online_count, received_count
    from received

    union all

    select period_month, unit_code, unit_key, unit_level, current_province_code,
        '766.3.5', paid_online_count, fee_bearing_count
    from received
    where fee_bearing_count > 0

    union all

    select period_month, unit_code, unit_key, unit_level, current_province_code,
        '766.4.1', electronic_result_count, result_required_count
    from ended
    where result_required_count > 0

    union all

    select period_month, unit_code, unit_key, unit_level, current_province_code,
        '766.4.2', fully_digitised_count, result_count
    from ended
    where result_count > 0

    union all

    select period_month, unit_code, unit_key, unit_level, current_province_code,
        '766.4.3', reused_count, received_count
    from received

    union all

    select period_month, unit_code, unit_key, unit_level, current_province_code,
        '766.5.4', finished_count - finished_late_count - finished_complaint_count,
        finished_count
    from ended
    where finished_count > 0

),

typed as (

    select
        period_month,
        unit_code,
        unit_key,
        unit_level,
        current_province_code,
        kpi_code,
        cast(numerator as bigint) as numerator,
        cast(denominator as bigint) as denominator
    from indicators

)

select * from typed
