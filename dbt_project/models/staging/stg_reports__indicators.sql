with

source as (

    select * from {{ source('reports', 'reports__indicators') }}

),

renamed as (

    select
        ---------- ids
        province_code,
        code as indicator_code,

        ---------- attributes
        name as indicator_name,
        unit as measure_unit,
        type as value_type,

        ---------- numerics
        min_value,
        max_value,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
