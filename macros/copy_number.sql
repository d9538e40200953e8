{#
    1 for the first copy of a row, 2.. for exact duplicates of it (same value in every column).
    Arguments: columns (list of column names).
#}
{% macro copy_number(columns) -%}
    row_number() over (
        partition by {% for column in columns %}{{ adapter.quote(column) }}{{ ", " if not loop.last }}{% endfor %}
        order by {% for column in columns %}{{ adapter.quote(column) }}{{ ", " if not loop.last }}{% endfor %}
    )
{%- endmacro %}
