{#
    Aggregate: the value of `value` on the row with the largest `order_by` (ties: any).
    Arguments: value, order_by (SQL expressions).
#}
{% macro arg_max(value, order_by) -%}
    {{ return(adapter.dispatch('arg_max', 'customer_profiles')(value, order_by)) }}
{%- endmacro %}

{% macro default__arg_max(value, order_by) -%}
    arg_max({{ value }}, {{ order_by }})
{%- endmacro %}

{% macro spark__arg_max(value, order_by) -%}
    max_by({{ value }}, {{ order_by }})
{%- endmacro %}
