with

scores as (

    -- Provinces on today's boundaries (kpi_766_score_unit_month scores them restated).
    select * from {{ ref('kpi_766_score_unit_month') }}
    where unit_level = 'province'

),

province_months as (

    select
        period_month,
        unit_code as province_code,
        max(unit_name) as province_name,
        max(total_points) as total_points,
        max(total_points_measured) as total_points_measured,
        max(index_on_measured) as index_on_measured,
        count(points) as indicators_measured,
        max(case when kpi_group = 'progress' then group_points end) as progress_points,
        max(case when kpi_group = 'online_service' then group_points end)
            as online_service_points,
        max(case when kpi_group = 'online_payment' then group_points end)
            as online_payment_points,
        max(case when kpi_group = 'digitisation' then group_points end) as digitisation_points,
        max(case when kpi_group = 'satisfaction' then group_points end) as satisfaction_points
    from scores
    group by period_month, unit_code

),

{#- As the national public-service portal ranks them: by total points, highest first, equal
    totals sharing a rank. Compared at four decimals so that the last bits of a float sum,
    which differ between engines, never split a tie (a decimal: PostgreSQL has no round of
    a double to places). -#}
ranked as (

    select
        *,
        rank() over (
            partition by period_month order by cast(total_points as decimal(12, 4)) desc
        ) as national_rank,
        count(*) over (partition by period_month) as provinces_ranked,
        avg(total_points) over (partition by period_month) as national_mean_points
    from province_months

),

final as (

    select
        period_month,
        province_code,
        province_name,
        cast(national_rank as integer) as national_rank,
        cast(provinces_ranked as integer) as provinces_ranked,
        cast(total_points as {{ type_double() }}) as total_points,
        cast(total_points_measured as {{ type_double() }}) as total_points_measured,
        cast(index_on_measured as {{ type_double() }}) as index_on_measured,
        cast(total_points - national_mean_points as {{ type_double() }})
            as points_above_national_mean,
        cast(indicators_measured as integer) as indicators_measured,
        cast(progress_points as {{ type_double() }}) as progress_points,
        cast(online_service_points as {{ type_double() }}) as online_service_points,
        cast(online_payment_points as {{ type_double() }}) as online_payment_points,
        cast(digitisation_points as {{ type_double() }}) as digitisation_points,
        cast(satisfaction_points as {{ type_double() }}) as satisfaction_points
    from ranked

)

select * from final
