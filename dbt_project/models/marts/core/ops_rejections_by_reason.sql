with

rejected as (

    select * from {{ ref('stg_ops__rejected_records') }}

),

{#- A reason may name the value that broke the rule (an agency code, a line and column, a
    time): the kind of reason drops what is in parentheses and every word with a digit, so
    the same rule counts once. -#}
kinds as (

    select
        *,
        trim({{ regexp_replace_all(regexp_replace_all('reason', '\\([^)]*\\)', ''),
            '[^ :]*[0-9][^ :]*', '…') }}) as reason_kind
    from rejected

),

{#- Counts per province, source, reason and day: the reasons only, never a payload. -#}
final as (

    select
        province_code,
        source_name,
        split_part(source_name, '.', 1) as source_system,
        reason_kind,
        reason,
        cast(rejected_at as date) as rejected_date,
        cast(count(*) as bigint) as rejected_count,
        cast(count(distinct run_id) as bigint) as run_count
    from kinds
    group by 1, 2, 3, 4, 5, 6

)

select * from final
