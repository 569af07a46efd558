with

source as (

    select * from {{ source('reports', 'reports__submissions') }}

),

renamed as (

    select
        ---------- ids
        province_code,
        regime_code,
        period_label,
        -- The reporting unit of the export is an agency (electronic identifier code).
        unit_code as reporting_agency_code,
        indicator_code,
        version as submission_version,

        ---------- names as exported
        regime_name,
        unit_name as reporting_agency_name,
        indicator_name,
        indicator_unit as measure_unit,

        ---------- numerics
        value as indicator_value,

        ---------- dates and timestamps (Asia/Ho_Chi_Minh local time)
        period_start,
        period_end,
        deadline as deadline_date,
        submitted_at,

        ---------- export
        status as export_status,
        source_file,
        source_line,

        ---------- lineage
        _run_id as ingest_run_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
