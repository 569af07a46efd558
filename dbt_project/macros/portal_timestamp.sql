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

{% macro spark__portal_timestamp(column) -%}
    to_timestamp({{ column }}, 'yyyyMMddHHmmss')
{%- endmacro %}

{#- The current time in UTC, as a timestamp without time zone (the ledger's clock). -#}
{% macro utc_now() -%}
    {{ return(adapter.dispatch('utc_now', 'govdata')()) }}
{%- endmacro %}

{% macro default__utc_now() -%}
    cast(current_timestamp at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro spark__utc_now() -%}
    convert_timezone('UTC', current_timestamp())
{%- endmacro %}
