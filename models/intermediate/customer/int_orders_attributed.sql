{#
    One row per staged order with the customer it belongs to: through its member id, or the
    phone / email / openid it was placed under. customer_id is null when that identifier is
    shared (a store counter phone), so the order cannot be pinned on one person.
#}
with orders as (

    select * from {{ ref('stg_commerce__orders') }}

),

customer_ids as (

    select * from {{ ref('int_identity__customer_ids') }}

),

keyed as (

    select
        orders.*,
        case
            when orders.customer_ref is not null
                then {{ identifier_key("'member_id'", 'orders.customer_ref') }}
            else {{ identifier_key('orders.buyer_id_type', 'orders.buyer_id_value') }}
        end as buyer_identifier_key

    from orders

),

final as (

    select
        keyed.order_id,
        customer_ids.customer_id,
        keyed.buyer_identifier_key,
        keyed.channel,
        keyed.store_city_raw,
        keyed.order_status,
        keyed.currency_code,
        keyed.total_amount,
        keyed.discount_amount,
        keyed.has_coupon,
        -- an export without a status (the column is optional) sells: null is not cancelled
        coalesce(keyed.order_status in ('cancelled', 'refunded'), false) as is_cancelled_or_refunded,
        keyed.ordered_at

    from keyed
    left join customer_ids on customer_ids.identifier_key = keyed.buyer_identifier_key

)

select * from final
