{#- Seeds on Spark: dbt-spark's session mode binds each value as '<value>' without escaping
    (a name with an apostrophe breaks the statement) and an empty cell as the text 'None'.
    Here the rows are escaped text literals, an empty cell null, as the other adapters load
    them; the columns are cast once, over the inline table, rather than every value (Spark's
    analyser takes minutes over ten thousand rows of casts). Found through dispatch
    (dbt_project.yml). -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }}
            select
            {%- for col_name in agate_table.column_names %}
                cast(column_{{ loop.index }} as {{ column_override.get(col_name, adapter.convert_type(agate_table, loop.index0)) }})
                {%- if not loop.last %},{% endif %}
            {%- endfor %}
            from values
            {% for row in chunk -%}
                ({%- for value in row -%}
                    {%- if value is none -%}
                        cast(null as string)
                    {%- else -%}
                        '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
                    {%- endif -%}
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%})
                {%- if not loop.last %},{% endif %}
            {% endfor %}
            as seed_rows (
            {%- for col_name in agate_table.column_names -%}
                column_{{ loop.index }}{%- if not loop.last %}, {% endif -%}
            {%- endfor -%})
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.index0 == 0 -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0]) }}
{% endmacro %}
