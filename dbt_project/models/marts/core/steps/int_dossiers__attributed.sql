with

dossiers as (

    select * from {{ ref('int_dossiers__latest') }}

),

agencies as (

    select * from {{ ref('dim_agency') }}

),

attributed as (

    -- Agency codes were reused in 2025: the agency is the one the code named on reception.
    select
        dossiers.*,
        agencies.unit_code,
        agencies.unit_key,
        agencies.unit_level
    from dossiers
    left join agencies
        on dossiers.province_code = agencies.province_code
        and dossiers.processing_agency_code = agencies.agency_code
        and cast(dossiers.received_at as date)
            >= coalesce(agencies.valid_from, date '0001-01-01')
        and cast(dossiers.received_at as date)
            <= coalesce(agencies.valid_to, date '9999-12-31')

)

select * from attributed
