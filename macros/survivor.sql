{#
    Survivorship for a golden record: the first non-null value of `column` among a
    customer's records in the given preference order (most trusted source, then most
    recent). A window expression; aggregate it with min() or max() per customer.
    Arguments: column, partition_by, order_by (SQL texts).
#}
{% macro survivor(column, partition_by, order_by) -%}
    first_value({{ column }}) over (
        partition by {{ partition_by }}
        order by case when {{ column }} is null then 1 else 0 end, {{ order_by }}
        rows between unbounded preceding and unbounded following
    )
{%- endmacro %}
