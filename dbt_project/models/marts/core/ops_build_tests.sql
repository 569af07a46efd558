{{ config(materialized='view') }}
{#- A view: the build records its results after its last model ran, so only a view shows
    the build that made this warehouse. -#}

with

results as (

    select * from {{ ref('stg_ops__build_results') }}

),

latest as (

    select build_id
    from results
    order by finished_at desc
    limit 1

),

final as (

    select
        results.build_id,
        results.warehouse_target,
        results.finished_at,
        results.unique_id,
        results.resource_type,
        results.node_name,
        results.status,
        results.status in ('pass', 'success') as passed,
        results.failures,
        results.message,
        results.execution_seconds
    from results
    inner join latest on results.build_id = latest.build_id
    where results.resource_type in ('test', 'unit_test')

)

select * from final
