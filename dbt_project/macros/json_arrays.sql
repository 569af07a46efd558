{#- Tests over a JSON array of objects (a raw column such as "TaiLieuNop"), as booleans that
    are false when the array is missing or empty: DuckDB (json, list functions) and PostgreSQL
    (jsonb, jsonpath) give the same answers. -#}

{#- Whether any element of the array has element_field = JSON true. -#}
{% macro json_array_any_true(column, element_field) -%}
    {{ return(adapter.dispatch('json_array_any_true', 'govdata')(column, element_field)) }}
{%- endmacro %}

{% macro default__json_array_any_true(column, element_field) -%}
    coalesce(list_contains(json_extract_string({{ column }}, '$[*].{{ element_field }}'), 'true'), false)
{%- endmacro %}

{% macro postgres__json_array_any_true(column, element_field) -%}
    coalesce(jsonb_path_exists({{ column }}, '$[*] ? (@.{{ element_field }} == true)'), false)
{%- endmacro %}

{#- Whether any element of the array has a number element_field above 0. -#}
{% macro json_array_any_positive(column, element_field) -%}
    {{ return(adapter.dispatch('json_array_any_positive', 'govdata')(column, element_field)) }}
{%- endmacro %}

{% macro default__json_array_any_positive(column, element_field) -%}
    coalesce(list_bool_or(list_transform(json_extract_string({{ column }}, '$[*].{{ element_field }}'), lambda value: try_cast(value as double) > 0)), false)
{%- endmacro %}

{% macro postgres__json_array_any_positive(column, element_field) -%}
    coalesce(jsonb_path_exists({{ column }}, '$[*] ? (@.{{ element_field }} > 0)'), false)
{%- endmacro %}

{#- Number of elements of the array; 0 when missing or not an array. -#}
{% macro json_array_size(column) -%}
    {{ return(adapter.dispatch('json_array_size', 'govdata')(column)) }}
{%- endmacro %}

{% macro default__json_array_size(column) -%}
    coalesce(cast(case when json_type({{ column }}) = 'ARRAY' then json_array_length({{ column }}) end as integer), 0)
{%- endmacro %}

{% macro postgres__json_array_size(column) -%}
    case when jsonb_typeof({{ column }}) = 'array' then jsonb_array_length({{ column }}) else 0 end
{%- endmacro %}

{#- Spark: the array read as maps of text (a JSON true reads 'true', a number its digits); a
    value that is not an array of objects reads null. -#}
{% macro spark__json_array_any_true(column, element_field) -%}
    coalesce(exists(from_json({{ column }}, 'array<map<string,string>>'), element -> element['{{ element_field }}'] = 'true'), false)
{%- endmacro %}

{% macro spark__json_array_any_positive(column, element_field) -%}
    coalesce(exists(from_json({{ column }}, 'array<map<string,string>>'), element -> cast(element['{{ element_field }}'] as double) > 0), false)
{%- endmacro %}

{% macro spark__json_array_size(column) -%}
    coalesce(json_array_length({{ column }}), 0)
{%- endmacro %}
