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

{% macro spark__date_spine(first_day, last_day) -%}
    select explode(sequence(date '{{ first_day }}', date '{{ last_day }}', interval 1 day)) as date_day
{%- endmacro %}

{#- ISO day of the week, 1 (Monday) to 7 (Sunday). -#}
{% macro iso_day_of_week(expression) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'govdata')(expression)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(expression) -%}
    extract(isodow from {{ expression }})
{%- endmacro %}

{% macro spark__iso_day_of_week(expression) -%}
    (weekday({{ expression }}) + 1)
{%- endmacro %}
