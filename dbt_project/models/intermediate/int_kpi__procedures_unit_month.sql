with

dossiers as (

    select * from {{ ref('fct_dossier') }}

),

received as (

    select
        cast(date_trunc('month', received_at) as date) as period_month,
        unit_code,
        unit_level,
        province_code as current_province_code,
        is_online
    from dossiers
    where is_received

),

{#- 766.3.3: dossiers received online / all dossiers received (null channel = in person). -#}
online_dossiers as (

    select
        period_month,
        unit_code,
        unit_level,
        current_province_code,
        '766.3.3' as kpi_code,
        sum(case when is_online then 1 else 0 end) as numerator,
        count(*) as denominator
    from received
    group by 1, 2, 3, 4

)

select * from online_dossiers
