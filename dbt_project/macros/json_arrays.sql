{#- Tests over an array of objects in a JSON payload, as booleans that are false when the
    array is missing or empty: DuckDB (json, list functions) and PostgreSQL (jsonb, jsonpath)
    give the same answers. -#}

{#- Whether any element of payload.array_field has element_field = JSON true. -#}
{% macro json_array_any_true(column, array_field, element_field) -%}
    {{ return(adapter.dispatch('json_array_any_true', 'govdata')(column, array_field, element_field)) }}
{%- endmacro %}

{% macro default__json_array_any_true(column, array_field, element_field) -%}
    coalesce(list_contains(json_extract_string({{ column }}, '$.{{ array_field }}[*].{{ element_field }}'), 'true'), false)
{%- endmacro %}

{% macro postgres__json_array_any_true(column, array_field, element_field) -%}
    coalesce(jsonb_path_exists({{ column }}, '$.{{ array_field }}[*] ? (@.{{ element_field }} == true)'), false)
{%- endmacro %}

{#- Whether any element of payload.array_field has a number element_field above 0. -#}
{% macro json_array_any_positive(column, array_field, element_field) -%}
    {{ return(adapter.dispatch('json_array_any_positive', 'govdata')(column, array_field, element_field)) }}
{%- endmacro %}

{% macro default__json_array_any_positive(column, array_field, element_field) -%}
    coalesce(list_bool_or(list_transform(json_extract_string({{ column }}, '$.{{ array_field }}[*].{{ element_field }}'), value -> try_cast(value as double) > 0)), false)
{%- endmacro %}

{% macro postgres__json_array_any_positive(column, array_field, element_field) -%}
    coalesce(jsonb_path_exists({{ column }}, '$.{{ array_field }}[*] ? (@.{{ element_field }} > 0)'), false)
{%- endmacro %}

{#- Number of elements of payload.array_field; 0 when missing or not an array. -#}
{% macro json_array_size(column, array_field) -%}
    {{ return(adapter.dispatch('json_array_size', 'govdata')(column, array_field)) }}
{%- endmacro %}

{% macro default__json_array_size(column, array_field) -%}
    coalesce(cast(json_array_length({{ column }}, '$.{{ array_field }}') as integer), 0)
{%- endmacro %}

{% macro postgres__json_array_size(column, array_field) -%}
    case when jsonb_typeof({{ column }} -> '{{ array_field }}') = 'array'
        then jsonb_array_length({{ column }} -> '{{ array_field }}') else 0 end
{%- endmacro %}
