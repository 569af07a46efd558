{#- The national portal writes local times as yyyyMMddHHmmss text. -#}
{% macro portal_timestamp(column) -%}
    {{ return(adapter.dispatch('portal_timestamp', 'govdata')(column)) }}
{%- endmacro %}

{% macro default__portal_timestamp(column) -%}
    strptime({{ column }}, '%Y%m%d%H%M%S')
{%- endmacro %}

{% macro postgres__portal_timestamp(column) -%}
    to_timestamp({{ column }}, 'YYYYMMDDHH24MISS')::timestamp
{%- endmacro %}
