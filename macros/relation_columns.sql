{#
    The column names of a relation (empty while dbt parses), e.g. every column of a raw view
    for duplicate detection and for the quarantine's record of original values.
    Arguments: relation.
#}
{% macro relation_columns(relation) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(adapter.get_columns_in_relation(relation) | map(attribute='name') | list) }}
{%- endmacro %}
