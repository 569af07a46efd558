{#- Type names the engines spell differently: Spark has no "double precision" and wants a
    length on varchar; its "string" is unbounded text, as varchar is on DuckDB and PostgreSQL. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'govdata')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{% macro type_text() -%}
    {{ return(adapter.dispatch('type_text', 'govdata')()) }}
{%- endmacro %}

{% macro default__type_text() -%}
    varchar
{%- endmacro %}

{% macro spark__type_text() -%}
    string
{%- endmacro %}
