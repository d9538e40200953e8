{#
    dbt.type_float() as an 8-byte float everywhere: dbt's default, `float`, is 4 bytes on
    DuckDB and Spark, too coarse for shares and rates that feed models and contracts.
    Arguments: none.
#}
{% macro default__type_float() -%}
    double
{%- endmacro %}
