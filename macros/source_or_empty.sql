{#
    A Python model's output table (a dbt source) cast to the calling model's contract columns
    (pandas decides its own types; the contract decides the table's), or, when the table does
    not exist, an empty relation with those columns. A plain `dbt build` (tests, a shop without the Python
    step) then still builds: the model is empty and the tags it feeds read 未知. In the Dagster
    graph the Python asset always runs first.
    Arguments: source_name, table_name, computed (contract columns the model adds itself).
#}
{% macro source_or_empty(source_name, table_name, computed=[]) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set exists = execute and adapter.get_relation(relation.database, relation.schema, relation.identifier) is not none -%}
    {%- set columns = [] -%}
    {%- for column in model.columns.values() if column.name not in computed -%}
        {%- do columns.append('cast(' ~ (column.name if exists else 'null') ~ ' as ' ~ column.data_type ~ ') as ' ~ column.name) -%}
    {%- endfor -%}
    {%- if exists -%}
        (select {{ columns | join(', ') }} from {{ relation }}) as {{ table_name }}
    {%- else -%}
        (select {{ columns | join(', ') }} from (select 1 as one) as nothing where 1 = 0) as {{ table_name }}
    {%- endif -%}
{%- endmacro %}
