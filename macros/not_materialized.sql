{#
    Write `name as {{ not_materialized() }} (select * from ...)` for an import CTE that the
    query reads more than once. DuckDB (1.3 on) materialises such a CTE: a pass-through of a
    table becomes a full copy of it, all columns, before any reader's filter. At a million
    customers customer_features copied 23M daily event rows (9.6 GB, spilled to disk) to read
    the last year of them: 48 s; inlined, each reader scans the table with its own filter and
    columns: 18 s. Other engines inline such CTEs anyway and do not know the keyword.
    Keep materialising a CTE that computes something costly and is read twice.
#}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized', 'customer_profiles')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}
{%- endmacro %}

{% macro duckdb__not_materialized() -%}
    not materialized
{%- endmacro %}
