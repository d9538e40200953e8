{#
    One row per customer per day with at least one order: purchases, spend and how they were
    made. The additive daily roll-up every order feature is summed from, at any cut-off, so
    feature history never rescans orders once per cut-off.
#}
with orders as (

    select * from {{ ref('int_orders_attributed') }}
    where customer_id is not null

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
purchase_days as (

    select
        customer_id,
        order_date,
        lag(order_date) over (partition by customer_id order by order_date) as previous_purchase_date

    from daily
    where purchases > 0

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
