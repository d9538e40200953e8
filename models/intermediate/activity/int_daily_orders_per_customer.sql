{#
    One row per customer per day with at least one order: purchases, spend and how they were
    made. The additive daily roll-up every order feature is summed from, at any cut-off, so
    feature history never rescans orders once per cut-off.

    Incremental (activity_refresh): a refresh re-aggregates the days from
    activity_reprocess_from on, and every day of the customers whose identifiers changed or
    who ordered on an older day whose orders changed since (late_days.sql: a refund weeks
    later); the previous purchase day of a customer's first re-aggregated purchase comes from
    the days already built.
#}
-- depends_on: {{ ref('int_order_day_fingerprints') }}  (read by the hooks)
{{ config(
    pre_hook=[
        "{{ snapshot_input_days('select day, fingerprint from ' ~ ref('int_order_day_fingerprints')) }}",
        "{{ activity_find_late_days('order_date', lookback_days=var('order_lookback_days')) }}",
        "{{ find_late_customers(ref('int_orders_attributed'), 'ordered_at', 'order_date') }}",
        "{{ activity_delete_stale('order_date', lookback_days=var('order_lookback_days'), late_customers=true) }}",
    ],
    post_hook=["{{ record_input_days() }}", "{{ record_build_state() }}"],
) }}
{%- set reprocess_from = activity_reprocess_from('order_date', lookback_days=var('order_lookback_days')) -%}
{%- set changed_customers = activity_changed_customers() -%}
with orders as (

    select * from {{ ref('int_orders_attributed') }}
    where customer_id is not null
        {%- if reprocess_from %}
        and (
            ordered_at >= cast({{ reprocess_from }} as {{ dbt.type_timestamp() }})
            or customer_id in (select customer_id from {{ side_table('late_customers') }})
            {%- if changed_customers %}
            or customer_id in ({{ changed_customers }})
            {%- endif %}
        )
        {%- endif %}

),

daily as (

    select
        customer_id,
        cast(ordered_at as date) as order_date,
        sum(case when not is_cancelled_or_refunded then 1 else 0 end) as purchases,
        sum(case when order_status = 'refunded' then 1 else 0 end) as refunds,
        sum(case when not is_cancelled_or_refunded then total_amount else 0 end) as spend,
        {#- discounts and coupons, over the purchases whose export says (optional columns) #}
        sum(case when not is_cancelled_or_refunded and discount_amount is not null then total_amount else 0 end) as discount_known_spend,
        sum(case when not is_cancelled_or_refunded then discount_amount else 0 end) as discount_amount,
        sum(case when not is_cancelled_or_refunded and has_coupon is not null then 1 else 0 end) as coupon_known_purchases,
        sum(case when not is_cancelled_or_refunded and has_coupon then 1 else 0 end) as coupon_purchases,
        {%- for channel in var('sales_channels') %}
        sum(case when not is_cancelled_or_refunded and channel = '{{ channel }}' then 1 else 0 end) as purchases_{{ channel }},
        {%- endfor %}
        {%- for name in var('dayparts') %}
        sum(case when not is_cancelled_or_refunded and {{ daypart('ordered_at') }} = '{{ name }}' then 1 else 0 end) as purchases_{{ name }},
        {%- endfor %}
        count(*) as orders_placed

    from orders
    group by 1, 2

),

{#- The previous purchase day does not depend on any cut-off (it is earlier than this one),
    so it is computed once here; lifecycle ("returning") reads the gap before the last purchase. #}
{%- if reprocess_from %}

{#- the last purchase day already built before the re-aggregated days, per customer #}
built_purchase_days as (

    select customer_id, max(order_date) as last_purchase_date
    from {{ this }}
    where purchases > 0
        and order_date < {{ reprocess_from }}
    group by 1

),
{%- endif %}

purchase_days as (

    select
        daily.customer_id,
        daily.order_date,
        {%- if reprocess_from %}
        coalesce(
            lag(daily.order_date) over (partition by daily.customer_id order by daily.order_date),
            built_purchase_days.last_purchase_date
        ) as previous_purchase_date
        {%- else %}
        lag(daily.order_date) over (partition by daily.customer_id order by daily.order_date) as previous_purchase_date
        {%- endif %}

    from daily
    {%- if reprocess_from %}
    left join built_purchase_days on built_purchase_days.customer_id = daily.customer_id
    {%- endif %}
    where daily.purchases > 0

),

final as (

    select
        daily.*,
        purchase_days.previous_purchase_date

    from daily
    left join purchase_days
        on purchase_days.customer_id = daily.customer_id
        and purchase_days.order_date = daily.order_date

)

select * from final
{{ stored_in_order('customer_id, order_date') }}
