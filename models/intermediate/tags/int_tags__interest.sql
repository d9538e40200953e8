{#
    Interest tags, one row per customer as of as_of_date: what they buy and how loyal they
    are to a brand. Category and brand names are the shop's own (open value sets).
#}
with features as (

    select * from {{ ref('customer_features') }}

),

final as (

    select
        customer_id,

        case
            when order_count = 0 then '未购买'
            else coalesce(top_category, '未知')
        end as preferred_category,

        case
            when order_count = 0 then '未购买'
            else coalesce(top_brand, '未知')
        end as preferred_brand,

        case
            when order_count = 0 then '未购买'
            when top_brand_share is null or order_count < {{ var('tag_brand_loyalty_min_orders') }} then '未知'
            when top_brand_share >= {{ var('tag_brand_loyalty_bands')['high'] }} then '高'
            when top_brand_share >= {{ var('tag_brand_loyalty_bands')['medium'] }} then '中'
            else '低'
        end as brand_loyalty,

        case
            when order_count = 0 then '未购买'
            when category_count is null or category_count = 0 then '未知'
            when category_count >= {{ var('tag_category_breadth_bands')['broad'] }} then '多元'
            when category_count >= {{ var('tag_category_breadth_bands')['medium'] }} then '适中'
            else '专一'
        end as category_breadth

    from features

)

select * from final
