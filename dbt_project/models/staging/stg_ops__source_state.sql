with

source as (

    select * from {{ source('ops', 'source_state') }}

),

renamed as (

    select
        province_code,
        source as source_name,
        watermark,
        updated_at
    from source

)

select * from renamed
