with

catalogue as (

    select * from {{ ref('stg_procedures__catalogue') }}

),

described as (

    select
        province_code,
        procedure_code,
        procedure_name,
        field_code,
        field_name,
        level_code,
        case level_code
            when 'tinh' then 'province' when 'huyen' then 'district' when 'xa' then 'commune'
        end as procedure_level,
        online_mode_code,
        case online_mode_code
            when 'toan_trinh' then 'full_process' when 'mot_phan' then 'partial' else 'none'
        end as online_mode,
        online_mode_code in ('toan_trinh', 'mot_phan') as is_online_service,
        online_mode_code = 'toan_trinh' as is_full_process_online,
        legal_working_days,
        is_fee_bearing,
        requires_result_document
    from catalogue

)

select * from described
