with orders as (

    select * from {{ ref('base_commerce__orders') }}

),

final as (

    select
        order_id,
        customer_ref,
        buyer_id_type,
        buyer_id_value,
        channel,
        store_city_raw,
        order_status,
        currency_code,
        total_amount,
        discount_amount,
        has_coupon,
        ordered_at

    from orders
    where quarantine_reason is null

)

select * from final
