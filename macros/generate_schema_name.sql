{#
    Use a folder's custom schema name as it is (staging, marts, ...) instead of dbt's default
    "<target schema>_<custom>", so BI users and Python assets see stable schema names.
    Arguments: custom_schema_name (from +schema), node.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
