with

versions as (

    select * from {{ ref('stg_procedures__dossier_versions') }}

),

{#- A dossier's newest version carries its current state; older ones stay in staging. The raw
    layer keeps one row per dossier and update time, so the newest time names one version
    (a join on it is several times faster than sorting every version). -#}
newest as (

    select province_code, dossier_code, max(updated_at) as updated_at
    from versions
    group by province_code, dossier_code

),

latest as (

    select versions.*
    from versions
    inner join newest
        on versions.province_code = newest.province_code
        and versions.dossier_code = newest.dossier_code
        and versions.updated_at = newest.updated_at

)

select * from latest
