{#
    One row per customer, day, category and brand bought: spend and units on order lines of
    completed purchases (not cancelled or refunded). Category and brand preference and the
    price band are summed from it at any cut-off.

    Incremental (activity_refresh): a refresh re-aggregates the days from
    activity_reprocess_from on, the older days whose orders changed since (late_days.sql), and
    every day of the customers whose identifiers changed.
#}
-- depends_on: {{ ref('int_order_day_fingerprints') }}  (read by the hooks)
{{ config(
    pre_hook=[
        "{{ snapshot_input_days('select day, fingerprint from ' ~ ref('int_order_day_fingerprints')) }}",
        "{{ activity_find_late_days('order_date', lookback_days=var('order_lookback_days')) }}",
        "{{ activity_delete_stale('order_date', lookback_days=var('order_lookback_days'), late_days=true) }}",
    ],
    post_hook=["{{ record_input_days() }}", "{{ record_build_state() }}"],
) }}
{%- set reprocess_from = activity_reprocess_from('order_date', lookback_days=var('order_lookback_days')) -%}
{%- set changed_customers = activity_changed_customers() -%}
with items as (

    select * from {{ ref('stg_commerce__order_items') }}

),

orders as (

    select * from {{ ref('int_orders_attributed') }}
    where customer_id is not null
        and not is_cancelled_or_refunded
        {%- if reprocess_from %}
        and (
            ordered_at >= cast({{ reprocess_from }} as {{ dbt.type_timestamp() }})
            or {{ is_late_day('cast(ordered_at as date)') }}
            {%- if changed_customers %}
            or customer_id in ({{ changed_customers }})
            {%- endif %}
        )
        {%- endif %}

),

final as (

    select
        orders.customer_id,
        cast(orders.ordered_at as date) as order_date,
        coalesce(items.category_name, 'unknown') as category_name,
        coalesce(items.brand_name, 'unknown') as brand_name,
        sum(items.quantity * items.unit_price) as item_spend,
        sum(items.quantity) as units

    from items
    inner join orders on orders.order_id = items.order_id
    group by 1, 2, 3, 4

)

select * from final
{{ stored_in_order('customer_id, order_date') }}
