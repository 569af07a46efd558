with

dossiers as (

    select * from {{ ref('fct_dossier') }}

),

units as (

    select * from {{ ref('dim_admin_unit') }}

),

received as (

    select
        cast(date_trunc('month', received_at) as date) as period_month,
        unit_code,
        unit_level,
        province_code,
        is_online
    from dossiers
    where is_received

),

{#- 766.3.3: dossiers received online / all dossiers received (null channel = in person). -#}
online_dossiers_by_commune as (

    select
        period_month,
        unit_code,
        'commune' as unit_level,
        sum(case when is_online then 1 else 0 end) as numerator,
        count(*) as denominator
    from received
    where unit_level = 'commune'
    group by 1, 2

),

online_dossiers_by_province as (

    select
        period_month,
        province_code as unit_code,
        'province' as unit_level,
        sum(case when is_online then 1 else 0 end) as numerator,
        count(*) as denominator
    from received
    group by 1, 2

),

online_dossiers as (

    select '766.3.3' as kpi_code, 'Tỷ lệ hồ sơ trực tuyến' as kpi_name, *
    from online_dossiers_by_commune
    union all
    select '766.3.3' as kpi_code, 'Tỷ lệ hồ sơ trực tuyến' as kpi_name, *
    from online_dossiers_by_province

),

named as (

    select
        kpis.period_month,
        kpis.unit_code,
        units.unit_name,
        kpis.unit_level,
        kpis.kpi_code,
        kpis.kpi_name,
        cast(kpis.numerator as bigint) as numerator,
        cast(kpis.denominator as bigint) as denominator,
        {{ safe_rate('kpis.numerator', 'kpis.denominator') }} as rate
    from online_dossiers as kpis
    left join units
        on kpis.unit_code = units.unit_code
        and kpis.period_month >= units.valid_from
        and (units.valid_to is null or kpis.period_month <= units.valid_to)

)

select * from named
