{#
    Contract `not_null` constraints on Spark: Parquet tables in the Hive catalog cannot hold
    them (`ALTER COLUMN ... SET NOT NULL` is unsupported), so dbt-spark's version fails every
    contracted model. This one checks instead: one query counts the nulls of every not_null
    column of the table just built and fails the model naming the first column that has any,
    as DuckDB's constraint fails the insert (here the table stays behind, failed). Other
    constraint types warn, as dbt-spark's do.
    Reached through persist_constraints via the dispatch search order in dbt_project.yml.
    Arguments: relation (the table built), column_dict (the model's columns).
#}
{% macro spark__alter_column_set_constraints(relation, column_dict) -%}
    {%- set not_null = [] -%}
    {%- for column_name in column_dict -%}
        {%- for constraint in column_dict[column_name]['constraints'] -%}
            {%- if constraint.type == 'not_null' -%}
                {%- do not_null.append(column_name) -%}
            {%- else -%}
                {{ exceptions.warn('Invalid constraint for column ' ~ column_name ~ '. Only `not_null` is supported.') }}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if not_null and execute -%}
        {%- set query -%}
            select
            {%- for column_name in not_null %}
                sum(case when {{ adapter.quote(column_name) }} is null then 1 else 0 end) as {{ adapter.quote(column_name) }}{{ ',' if not loop.last }}
            {%- endfor %}
            from {{ relation }}
        {%- endset -%}
        {%- set counts = run_query(query).rows[0] -%}
        {%- for column_name in not_null -%}
            {%- if counts[loop.index0] is not none and counts[loop.index0] > 0 -%}
                {{ exceptions.raise_compiler_error(
                    "not_null constraint of " ~ relation ~ "." ~ column_name ~ " violated: "
                    ~ counts[loop.index0] ~ " null row(s)") }}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
