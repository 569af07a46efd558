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
        agencies.unit_level,
        agencies.current_province_code as province_code
    from dossiers
    left join agencies
        on dossiers.processing_agency_code = agencies.agency_code
        and cast(dossiers.received_at as date)
            >= coalesce(agencies.valid_from, date '0001-01-01')
        and cast(dossiers.received_at as date)
            <= coalesce(agencies.valid_to, date '9999-12-31')

),

compute_booleans as (

    select
        dossier_code,
        procedure_code,
        field_code,
        processing_agency_code as agency_code,
        unit_code,
        unit_level,
        province_code,
        applicant_type_code,
        channel_code,
        case channel_code when 2 then 'online' when 3 then 'postal' else 'in_person' end
            as channel,
        status_code,
        -- Registered-only (1) and refused-at-reception (3) dossiers were never received.
        status_code not in (1, 3) as is_received,
        coalesce(channel_code = 2, false) as is_online,
        is_paid_online,
        has_digitised_inputs,
        received_at,
        cast(received_at as date) as received_date,
        due_at,
        processing_ended_at,
        returned_at
    from attributed

)

select * from compute_booleans
