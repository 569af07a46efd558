{#- One row per day from first_day to last_day inclusive (ISO date literals), column date_day. -#}
{% macro date_spine(first_day, last_day) -%}
    {{ return(adapter.dispatch('date_spine', 'govdata')(first_day, last_day)) }}
{%- endmacro %}

{% macro default__date_spine(first_day, last_day) -%}
    select cast(range as date) as date_day
    from range(date '{{ first_day }}', date '{{ last_day }}' + interval 1 day, interval 1 day)
{%- endmacro %}

{% macro postgres__date_spine(first_day, last_day) -%}
    select cast(day as date) as date_day
    from generate_series(date '{{ first_day }}', date '{{ last_day }}', interval '1 day') as day
{%- endmacro %}
