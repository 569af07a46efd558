with

source as (

    select * from {{ source('ops', 'rejected_records') }}

),

{#- Reasons only: the payload (and the record key, which may be an applicant's) stay in
    ops, where only the data team's database role reaches them. -#}
renamed as (

    select
        province_code,
        run_id,
        source as source_name,
        reason,
        rejected_at
    from source

)

select * from renamed
