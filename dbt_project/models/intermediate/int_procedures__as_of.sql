with

versions as (

    select * from {{ ref('stg_procedures__dossier_versions') }}

),

events as (

    select * from {{ ref('stg_procedures__events') }}

),

latest_version as (

    select max(updated_at) as last_updated_at from versions

),

latest_event as (

    select max(occurred_at) as last_occurred_at from events

),

as_of as (

    -- The data describe the system up to its last recorded change.
    select cast(
        case
            when latest_event.last_occurred_at is null
                or latest_version.last_updated_at >= latest_event.last_occurred_at
                then latest_version.last_updated_at
            else latest_event.last_occurred_at
        end as date
    ) as as_of_date
    from latest_version
    cross join latest_event

)

select * from as_of
