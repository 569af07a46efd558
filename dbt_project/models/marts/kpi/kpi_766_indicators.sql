with

definitions as (

    select * from {{ ref('kpi_definitions') }}

),

{#- What the scorecard can and cannot measure, and why: the reader of the 100-point index
    sees which points are measured (total_points_measured) and what the rest is. -#}
described as (

    select
        kpi_code,
        kpi_name,
        kpi_name_en,
        kpi_group,
        kpi_group_name,
        cast(group_max_points as {{ type_double() }}) as group_max_points,
        cast(max_points as {{ type_double() }}) as max_points,
        cast(full_marks_threshold as {{ type_double() }}) as full_marks_threshold,
        measure,
        unit_levels,
        cast(is_supported as boolean) as is_supported,
        case
            when not cast(is_supported as boolean) then 'not_measured'
            when max_points = 0 then 'reported_not_scored'
            else 'scored'
        end as measurement_status,
        case
            when not cast(is_supported as boolean) then 'Không đo được: nguồn dữ liệu không cung cấp'
            when max_points = 0 then 'Theo dõi, không tính điểm'
            when unit_levels = 'province' then 'Tính điểm (chỉ cấp tỉnh)'
            else 'Tính điểm'
        end as measurement_status_vi,
        formula
    from definitions
    where kpi_code like '766.%'

)

select * from described
