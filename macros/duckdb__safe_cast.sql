{#
    dbt's safe_cast on DuckDB: try_cast, so a value that does not parse becomes null instead
    of failing the query (dbt-duckdb falls back to a plain cast). Reached through
    dbt.safe_cast() via the dispatch search order in dbt_project.yml.
    Arguments: field (SQL expression), type (SQL type).
#}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
