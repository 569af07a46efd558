{#- The spark target reads the raw and ops tables as Parquet: transform/spark.py exports them
    from the pipeline's DuckDB file before each build, and this hook (on-run-start) catalogues
    each declared source over its directory. Other targets read their sources in place. -#}
{% macro register_sources() -%}
    {{ return(adapter.dispatch('register_sources', 'govdata')()) }}
{%- endmacro %}

{% macro default__register_sources() -%}
    select 1
{%- endmacro %}

{% macro spark__register_sources() -%}
    {%- if execute -%}
        {%- set root = env_var('GOVDATA_SPARK_DIR', '../data/spark') ~ '/sources' -%}
        {%- for schema in graph.sources.values() | map(attribute='schema') | unique -%}
            {%- do run_query('create database if not exists ' ~ schema) -%}
        {%- endfor -%}
        {%- for source in graph.sources.values() -%}
            {%- set table = source.schema ~ '.' ~ source.identifier -%}
            {#- External tables: dropping one leaves its files, re-creating it reads the new. -#}
            {%- do run_query('drop table if exists ' ~ table) -%}
            {%- do run_query("create table " ~ table ~ " using parquet location '"
                ~ root ~ "/" ~ source.schema ~ "/" ~ source.identifier ~ "'") -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
