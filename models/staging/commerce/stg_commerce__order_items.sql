with order_items as (

    select * from {{ ref('base_commerce__order_items') }}

),

final as (

    select
        order_id,
        sku,
        category_name,
        brand_name,
        quantity,
        unit_price

    from order_items
    where quarantine_reason is null

)

select * from final
