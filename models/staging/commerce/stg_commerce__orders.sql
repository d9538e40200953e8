with source as (

    select * from {{ source('commerce', 'orders') }}

),

renamed as (

    select
        order_id,
        customer_ref,
        id_type as buyer_id_type,
        id_value as buyer_id_value,
        channel,
        store_city as store_city_raw,
        status as order_status,
        currency as currency_code,
        {{ dbt.safe_cast('total_amount', dbt.type_numeric()) }} as total_amount,
        {{ dbt.safe_cast('discount_amount', dbt.type_numeric()) }} as discount_amount,
        {{ dbt.safe_cast('coupon_used', dbt.type_boolean()) }} as has_coupon,
        {{ dbt.safe_cast('ordered_at', dbt.type_timestamp()) }} as ordered_at

    from source

)

select * from renamed
