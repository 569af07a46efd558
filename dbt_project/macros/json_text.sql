{#- A field of a JSON payload as text: the same operator on DuckDB (json) and PostgreSQL (jsonb). -#}
{% macro json_text(column, field) -%}
    ({{ column }} ->> '{{ field }}')
{%- endmacro %}
