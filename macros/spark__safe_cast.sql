{#
    dbt's safe_cast on Spark: try_cast, so a value that does not parse becomes null (and
    staging quarantines the row) instead of failing the build; dbt-spark's own is a plain
    cast, which fails under Spark 4's ANSI mode. Reached through dbt.safe_cast() via the
    dispatch search order in dbt_project.yml.
    Arguments: field (SQL expression), type (SQL type).
#}
{% macro spark__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
