{#
    One row per order day: a fingerprint of the day's orders and their lines, as the order
    roll-ups read them. A refund, a late order or a changed line changes its day's; the order
    roll-ups compare it with the one they recorded and re-aggregate older days that differ
    (macros/late_days.sql). Which customer an order belongs to is left out: identifiers that
    move between customers are the identity refresh's (activity_changed_customers), and a
    stitch would otherwise make every old day it touches late. Computed once per build for
    the three roll-ups: at a million customers the join of the lines to their orders' days
    is the cost (about 3 s).
#}
{%- set orders, items = ref('int_orders_attributed'), ref('stg_commerce__order_items') -%}
{%- set order_columns, item_columns = [], [] -%}
{%- for column in adapter.get_columns_in_relation(orders) if column.name != 'customer_id' -%}
    {%- do order_columns.append('orders.' ~ column.quoted) -%}
{%- endfor -%}
{%- for column in adapter.get_columns_in_relation(items) -%}
    {%- do item_columns.append('items.' ~ column.quoted) -%}
{%- endfor -%}
with order_parts as (

    select
        cast(orders.ordered_at as date) as day,
        {{ multiset_fingerprint(order_columns) }} as fingerprint
    from {{ orders }} as orders
    group by 1

),

line_parts as (

    select
        cast(orders.ordered_at as date) as day,
        {{ multiset_fingerprint(item_columns) }} as fingerprint
    from {{ items }} as items
    inner join {{ orders }} as orders on orders.order_id = items.order_id
    group by 1

),

final as (

    select
        coalesce(order_parts.day, line_parts.day) as day,
        {#- a multiset: lines have no id of their own, and two may be identical #}
        {{ key_hash(['order_parts.fingerprint', 'line_parts.fingerprint']) }} as fingerprint

    from order_parts
    full outer join line_parts on line_parts.day = order_parts.day

)

select * from final
