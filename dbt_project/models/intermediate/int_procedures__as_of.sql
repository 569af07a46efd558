with

versions as (

    select * from {{ ref('stg_procedures__dossier_versions') }}

),

events as (

    select * from {{ ref('stg_procedures__events') }}

),

latest_version as (

    select province_code, max(updated_at) as last_updated_at
    from versions
    group by province_code

),

latest_event as (

    select province_code, max(occurred_at) as last_occurred_at
    from events
    group by province_code

),

as_of as (

    -- The data describe each province's system up to its last recorded change.
    select
        latest_version.province_code,
        cast(
            case
                when latest_event.last_occurred_at is null
                    or latest_version.last_updated_at >= latest_event.last_occurred_at
                    then latest_version.last_updated_at
                else latest_event.last_occurred_at
            end as date
        ) as as_of_date
    from latest_version
    left join latest_event on latest_version.province_code = latest_event.province_code

)

select * from as_of
