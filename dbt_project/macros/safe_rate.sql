{#- numerator / denominator as a double, null when the denominator is 0. -#}
{% macro safe_rate(numerator, denominator) -%}
    cast({{ numerator }} as {{ type_double() }}) / nullif({{ denominator }}, 0)
{%- endmacro %}

{#- Hours from one timestamp to another, as a double. Dividing whole seconds by 3600.0 would
    be a decimal division on Spark (six decimal places kept) and a double one elsewhere. -#}
{% macro hours_between(start, end) -%}
    cast({{ dbt.datediff(start, end, 'second') }} as {{ type_double() }}) / 3600
{%- endmacro %}
