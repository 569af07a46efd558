{#- numerator / denominator as a double, null when the denominator is 0. -#}
{% macro safe_rate(numerator, denominator) -%}
    cast({{ numerator }} as double precision) / nullif({{ denominator }}, 0)
{%- endmacro %}
