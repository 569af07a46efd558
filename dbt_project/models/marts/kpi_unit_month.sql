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
    -- Province rows are on today's boundaries, so they carry today's name; communes are as
    -- recorded, so they carry the name the code had that month.
    left join units
        on kpis.unit_code = units.unit_code
        and kpis.unit_level = units.unit_level
        and (
            (kpis.unit_level = 'province' and units.valid_to is null)
            or (
                kpis.unit_level = 'commune'
                and kpis.period_month >= coalesce(units.valid_from, date '0001-01-01')
                and kpis.period_month <= coalesce(units.valid_to, date '9999-12-31')
            )
        )

)

select * from named
