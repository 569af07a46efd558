with

versions as (

    select * from {{ ref('stg_procedures__dossier_versions') }}

),

latest as (

    -- A dossier's newest version carries its current state; older ones stay in staging.
    select distinct on (dossier_code) *
    from versions
    order by dossier_code, updated_at desc, loaded_at desc

)

select * from latest
