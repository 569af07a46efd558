with

source as (

    select * from {{ source('ops', 'build_results') }}

),

renamed as (

    select
        build_id,
        target as warehouse_target,
        finished_at,
        unique_id,
        resource_type,
        node_name,
        status,
        failures,
        message,
        execution_seconds
    from source

)

select * from renamed
