{#
    The original values of a row as one JSON text, for the quarantine table.
    Arguments: columns (list of column names).
#}
{% macro row_as_json(columns) -%}
    {{ return(adapter.dispatch('row_as_json', 'customer_profiles')(columns)) }}
{%- endmacro %}

{% macro default__row_as_json(columns) -%}
    to_json(named_struct(
        {%- for column in columns %}
        '{{ column }}', {{ adapter.quote(column) }}{{ "," if not loop.last }}
        {%- endfor %}
    ))
{%- endmacro %}

{% macro duckdb__row_as_json(columns) -%}
    cast(to_json(struct_pack(
        {%- for column in columns %}
        {{ adapter.quote(column) }} := {{ adapter.quote(column) }}{{ "," if not loop.last }}
        {%- endfor %}
    )) as varchar)
{%- endmacro %}
