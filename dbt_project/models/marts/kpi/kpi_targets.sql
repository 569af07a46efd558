with

targets as (

    select * from {{ ref('digital_government_targets') }}

),

definitions as (

    select * from {{ ref('kpi_definitions') }}

),

named as (

    select
        targets.target_code,
        targets.target_year,
        targets.kpi_code,
        definitions.kpi_name,
        targets.unit_level,
        targets.target_rate,
        targets.description,
        targets.description_en
    from targets
    left join definitions on targets.kpi_code = definitions.kpi_code

)

select * from named
