with

units as (

    select * from {{ ref('dim_admin_unit') }}

),

crosswalk as (

    select * from {{ ref('bridge_admin_unit_crosswalk') }}

),

became as (

    select
        old_unit_key as unit_key,
        'became' as relation,
        new_unit_key as related_unit_key,
        effective_date as change_date,
        is_partly_merged,
        weight
    from crosswalk

),

came_from as (

    select
        new_unit_key as unit_key,
        'came_from' as relation,
        old_unit_key as related_unit_key,
        effective_date as change_date,
        is_partly_merged,
        weight
    from crosswalk

),

{#- A district's own row only says which province it went to; where its communes went is
    the detail a reader looks for. -#}
communes_became as (

    select
        communes.parent_unit_key as unit_key,
        'communes_became' as relation,
        crosswalk.new_unit_key as related_unit_key,
        crosswalk.effective_date as change_date,
        max(case when crosswalk.is_partly_merged then 1 else 0 end) = 1 as is_partly_merged,
        cast(null as {{ type_double() }}) as weight
    from crosswalk
    inner join units as communes on crosswalk.old_unit_key = communes.unit_key
    where crosswalk.old_unit_level = 'commune'
        and communes.parent_unit_key is not null
    group by 1, 2, 3, 4

),

history as (

    select * from became
    union all
    select * from came_from
    union all
    select * from communes_became

),

final as (

    select
        units.unit_key,
        units.unit_code,
        units.unit_name,
        units.search_name,
        units.unit_level,
        units.unit_type,
        parents.unit_name as parent_name,
        units.province_code,
        units.valid_from,
        units.valid_to,
        units.is_current,
        history.relation,
        history.change_date,
        related.unit_key as related_unit_key,
        related.unit_code as related_unit_code,
        related.unit_name as related_unit_name,
        related.unit_level as related_unit_level,
        related_parents.unit_name as related_parent_name,
        related.valid_from as related_valid_from,
        related.valid_to as related_valid_to,
        history.is_partly_merged,
        history.weight
    from units
    left join units as parents on units.parent_unit_key = parents.unit_key
    left join history on units.unit_key = history.unit_key
    left join units as related on history.related_unit_key = related.unit_key
    left join units as related_parents on related.parent_unit_key = related_parents.unit_key

)

select * from final
