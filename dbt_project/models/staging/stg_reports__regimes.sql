with

source as (

    select * from {{ source('reports', 'reports__regimes') }}

),

renamed as (

    select
        ---------- ids
        province_code,
        code as regime_code,

        ---------- attributes
        name as regime_name,
        issuing_body,
        frequency,
        deadline_rule,
        deadline_value,

        ---------- JSON arrays (json on DuckDB, jsonb on PostgreSQL)
        reporting_kinds,
        departments,
        indicator_codes,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
