{#
    One row per day and category: spend and units on the order lines of completed purchases
    (not cancelled or refunded) by anyone, guests and shared phones included. The yardstick
    price_level_index compares a customer's prices with (customer_features_at). Kept apart
    from the per-customer roll-up, so it does not move when identifiers move between
    customers: a stitch then changes only the stitched customers' features.

    Incremental (activity_refresh): a refresh re-aggregates the days from
    activity_reprocess_from on (order_lookback_days back: refunds come late) and the older
    days whose orders changed since (late_days.sql). Not attributed
    to customers, so identifiers moving between customers change none of its rows; a changed
    definition rebuilds it (build_state).
#}
-- depends_on: {{ ref('int_order_day_fingerprints') }}  (read by the hooks)
{{ config(
    pre_hook=[
        "{{ snapshot_input_days('select day, fingerprint from ' ~ ref('int_order_day_fingerprints')) }}",
        "{{ activity_find_late_days('order_date', lookback_days=var('order_lookback_days')) }}",
        "{{ activity_delete_stale('order_date', attributed=false, lookback_days=var('order_lookback_days'), late_days=true) }}",
    ],
    post_hook=["{{ record_input_days() }}", "{{ record_build_state() }}"],
) }}
{%- set reprocess_from = activity_reprocess_from('order_date', lookback_days=var('order_lookback_days')) -%}
with items as (

    select * from {{ ref('stg_commerce__order_items') }}

),

orders as (

    select * from {{ ref('int_orders_attributed') }}
    where not is_cancelled_or_refunded
        {%- if reprocess_from %}
        and (ordered_at >= cast({{ reprocess_from }} as {{ dbt.type_timestamp() }})
            or {{ is_late_day('cast(ordered_at as date)') }})
        {%- endif %}

),

final as (

    select
        cast(orders.ordered_at as date) as order_date,
        coalesce(items.category_name, 'unknown') as category_name,
        sum(items.quantity * items.unit_price) as item_spend,
        sum(items.quantity) as units

    from items
    inner join orders on orders.order_id = items.order_id
    group by 1, 2

)

select * from final
