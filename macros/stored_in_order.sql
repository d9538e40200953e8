{#
    End a model's query with `{{ stored_in_order('customer_id, event_date') }}` to store its
    rows in that order. On DuckDB, an `order by` (a table keeps the order rows were written
    in); elsewhere nothing (Spark does not keep it). For the daily per-customer roll-ups:
    every feature query aggregates them per customer, and with each customer's rows together
    DuckDB's hash aggregation completes groups as it goes instead of carrying millions of
    partial ones and spilling them to disk. At a million customers one three-cut-off query of
    the feature history took 100 s on roll-ups stored in day order, 34 s clustered by
    customer. A refresh appends a day at the end, out of order but a small share of the rows.
#}
{% macro stored_in_order(columns) -%}
    {{ return(adapter.dispatch('stored_in_order', 'customer_profiles')(columns)) }}
{%- endmacro %}

{% macro default__stored_in_order(columns) -%}
{%- endmacro %}

{% macro duckdb__stored_in_order(columns) -%}
    order by {{ columns }}
{%- endmacro %}
