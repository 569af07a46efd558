{#- Layers land in schemas named after them (staging, intermediate, marts), on every target,
    so analysts and dashboards query the same names whichever engine serves them. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name if custom_schema_name is not none else target.schema }}
{%- endmacro %}
