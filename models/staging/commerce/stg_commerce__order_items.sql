with source as (

    select * from {{ source('commerce', 'order_items') }}

),

renamed as (

    select
        order_id,
        sku,
        category as category_name,
        brand as brand_name,
        {{ dbt.safe_cast('quantity', dbt.type_int()) }} as quantity,
        {{ dbt.safe_cast('unit_price', dbt.type_numeric()) }} as unit_price

    from source

)

select * from renamed
