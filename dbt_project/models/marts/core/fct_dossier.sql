with

dossiers as (

    select * from {{ ref('int_dossiers__attributed') }}

),

clock as (

    select * from {{ ref('int_dossiers__clock') }}

),

procedures as (

    select * from {{ ref('dim_procedure') }}

),

joined as (

    select
        dossiers.*,
        clock.received_date,
        clock.due_date,
        clock.clock_ended_at,
        clock.clock_end_date,
        clock.clock_end_reason,
        clock.measured_on,
        clock.supplement_request_count,
        clock.supplement_working_days,
        clock.received_working_day_ordinal,
        clock.due_working_day_ordinal,
        clock.measured_working_day_ordinal,
        procedures.online_mode as procedure_online_mode,
        procedures.legal_working_days,
        coalesce(procedures.is_fee_bearing, false) as is_fee_bearing_procedure,
        coalesce(procedures.requires_result_document, false) as requires_result_document
    from dossiers
    left join clock
        on dossiers.province_code = clock.province_code
        and dossiers.dossier_code = clock.dossier_code
    left join procedures
        on dossiers.province_code = procedures.province_code
        and dossiers.procedure_code = procedures.procedure_code

),

durations as (

    -- Working days after reception up to the measured day, less the days waiting for a
    -- supplement: "used" is what the dossier took, "allowed" what its due date gave it.
    select
        *,
        measured_working_day_ordinal - received_working_day_ordinal - supplement_working_days
            as used_working_days,
        due_working_day_ordinal - received_working_day_ordinal as allowed_working_days
    from joined

),

compute_booleans as (

    select
        ---------- ids
        dossier_code,
        procedure_code,
        field_code,
        processing_agency_code as agency_code,
        unit_code,
        unit_key,
        unit_level,
        province_code,

        ---------- applicant and channel
        applicant_type_code,
        channel_code,
        case channel_code when 2 then 'online' when 3 then 'postal' else 'in_person' end
            as channel,

        ---------- status
        status_code,
        case status_code
            when 1 then 'registered'
            when 2 then 'received'
            when 3 then 'refused_at_reception'
            when 4 then 'in_process'
            when 5 then 'supplement_requested'
            when 6 then 'payment_requested'
            when 7 then 'withdrawn'
            when 8 then 'stopped'
            when 9 then 'done'
            when 10 then 'result_returned'
        end as status_name,
        -- Registered-only (1) and refused-at-reception (3) dossiers were never received.
        status_code not in (1, 3) as is_received,
        coalesce(channel_code = 2, false) as is_online,

        ---------- procedure
        procedure_online_mode,
        legal_working_days,
        is_fee_bearing_procedure,
        requires_result_document,

        ---------- payment, digitisation, reuse, complaint
        is_paid_online,
        -- Online payment (766.3.5) counts fee-bearing procedures' dossiers with a fee above 0.
        is_fee_bearing_procedure and has_nonzero_fee as is_fee_bearing,
        has_nonzero_fee,
        has_digitised_inputs,
        has_reused_inputs,
        result_document_count,
        has_electronic_result,
        coalesce(clock_end_reason in ('done', 'result_returned'), false) as has_result,
        -- 766.4.2: digitised inputs and, where a result document is required, an electronic one.
        has_digitised_inputs and (not requires_result_document or has_electronic_result)
            as is_fully_digitised,
        is_vneid_verified,
        coalesce(has_complaint, false) as has_complaint,

        ---------- timestamps (local time)
        received_at,
        received_date,
        due_at,
        due_date,
        processing_ended_at,
        returned_at,
        clock_ended_at,
        clock_end_date,

        ---------- the 766 clock
        clock_end_reason,
        clock_ended_at is not null as is_clock_ended,
        coalesce(clock_end_reason in ('done', 'result_returned', 'stopped'), false)
            as is_finished,
        coalesce(clock_end_reason = 'withdrawn', false) as is_withdrawn,
        measured_on,
        supplement_request_count,
        supplement_working_days,
        case when clock_ended_at is not null then used_working_days end
            as processing_working_days,
        allowed_working_days,
        received_working_day_ordinal,
        due_working_day_ordinal,
        measured_working_day_ordinal,
        case
            when clock_ended_at is null or status_code in (1, 3) or due_date is null then null
            when used_working_days < allowed_working_days then 'early'
            when used_working_days = allowed_working_days then 'on_time'
            else 'late'
        end as timeliness,
        coalesce(
            clock_ended_at is not null and status_code not in (1, 3)
            and used_working_days > allowed_working_days,
            false
        ) as is_late,
        coalesce(
            clock_ended_at is null and status_code not in (1, 3)
            and used_working_days > allowed_working_days,
            false
        ) as is_overdue

    from durations

)

select * from compute_booleans
