with

dossiers as (

    select * from {{ ref('int_dossiers__latest') }}

),

units as (

    select * from {{ ref('dim_admin_unit') }}

),

attributed as (

    -- Attributed to the unit in force when the dossier was received.
    select
        dossiers.*,
        units.unit_level,
        units.province_code
    from dossiers
    left join units
        on dossiers.processing_unit_code = units.unit_code
        and cast(dossiers.received_at as date) >= units.valid_from
        and (units.valid_to is null or cast(dossiers.received_at as date) <= units.valid_to)

),

compute_booleans as (

    select
        dossier_code,
        procedure_code,
        field_code,
        processing_unit_code as unit_code,
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
