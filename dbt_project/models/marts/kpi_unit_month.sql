with

kpis as (

    select * from {{ ref('int_kpi__unit_month') }}

),

units as (

    select * from {{ ref('dim_admin_unit') }}

),

names as (

    select kpi_code, kpi_name from {{ ref('kpi_definitions') }}
    union all
    select kpi_code, kpi_name from {{ ref('kpi_definitions_documents_reports') }}

),

{#- A dossier received by an old commune and still in process (or finished) after 30 June
    2025 is counted on that commune in a month it no longer existed: it carries the last
    name the code had. -#}
last_names as (

    select unit_code, unit_level, unit_name
    from (
        select
            unit_code,
            unit_level,
            unit_name,
            row_number() over (partition by unit_code, unit_level order by valid_to desc) as recency
        from units
        where valid_to is not null
    ) as ended
    where recency = 1

),

by_commune as (

    select period_month, unit_code, unit_level, kpi_code, numerator, denominator
    from kpis
    where unit_level = 'commune'

),

{#- The province's figures total every unit in it, restated on today's province. -#}
by_province as (

    select
        period_month,
        current_province_code as unit_code,
        'province' as unit_level,
        kpi_code,
        sum(numerator) as numerator,
        sum(denominator) as denominator
    from kpis
    group by 1, 2, 3, 4

),

combined as (

    select * from by_commune
    union all
    select * from by_province

),

named as (

    select
        combined.period_month,
        combined.unit_code,
        coalesce(units.unit_name, last_names.unit_name) as unit_name,
        combined.unit_level,
        combined.kpi_code,
        names.kpi_name,
        cast(combined.numerator as bigint) as numerator,
        cast(combined.denominator as bigint) as denominator,
        {{ safe_rate('combined.numerator', 'combined.denominator') }} as rate
    from combined
    left join names on combined.kpi_code = names.kpi_code
    -- Province rows are on today's boundaries, so they carry today's name; communes are as
    -- recorded, so they carry the name the code had that month.
    left join units
        on combined.unit_code = units.unit_code
        and combined.unit_level = units.unit_level
        and (
            (combined.unit_level = 'province' and units.valid_to is null)
            or (
                combined.unit_level = 'commune'
                and combined.period_month >= coalesce(units.valid_from, date '0001-01-01')
                and combined.period_month <= coalesce(units.valid_to, date '9999-12-31')
            )
        )
    left join last_names
        on combined.unit_code = last_names.unit_code
        and combined.unit_level = last_names.unit_level
        and combined.unit_level = 'commune'

)

select * from named
