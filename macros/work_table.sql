{#- (Re)creates a work table from a query, run only when executing: a model's helper tables
    that dbt does not know (connected_components' rounds, the identity attachments). -#}
{% macro work_table(relation, sql) -%}
    {%- if execute -%}
        {%- do adapter.drop_relation(relation) -%}
        {%- do run_query(create_table_as(False, relation, sql)) -%}
    {%- endif -%}
{%- endmacro %}
