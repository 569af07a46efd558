with

events as (

    select * from {{ ref('stg_procedures__events') }}

),

dossiers as (

    select * from {{ ref('int_dossiers__attributed') }}

),

sequenced as (

    -- Events of a dossier in time order; a tie is ordered by status so both engines agree.
    select
        province_code,
        dossier_code,
        status_code,
        occurred_at,
        department_code,
        row_number() over (
            partition by province_code, dossier_code order by occurred_at, status_code
        ) as event_sequence,
        lead(occurred_at) over (
            partition by province_code, dossier_code order by occurred_at, status_code
        ) as next_occurred_at
    from events

),

attributed as (

    -- Events of dossiers the warehouse does not hold (rejected at ingestion) are left out.
    select
        sequenced.province_code,
        sequenced.dossier_code,
        cast(sequenced.event_sequence as integer) as event_sequence,
        sequenced.status_code,
        case sequenced.status_code
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
        sequenced.occurred_at,
        cast(sequenced.occurred_at as date) as occurred_date,
        sequenced.next_occurred_at,
        sequenced.status_code = 5 as is_supplement_request,
        sequenced.department_code,
        dossiers.processing_agency_code as agency_code,
        dossiers.unit_code,
        dossiers.unit_level
    from sequenced
    inner join dossiers
        on sequenced.province_code = dossiers.province_code
        and sequenced.dossier_code = dossiers.dossier_code

)

select * from attributed
