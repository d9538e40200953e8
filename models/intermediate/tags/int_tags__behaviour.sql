{#
    Behaviour tags, one row per customer as of as_of_date: how often, where, when and how
    they buy and browse. '未购买' = never bought; '未知' = the data cannot tell (no events
    tracked, too little history).
#}
with features as (

    select * from {{ ref('customer_features') }}

),

final as (

    select
        customer_id,

        case
            when order_count = 0 then '未购买'
            when order_count_365d >= {{ var('tag_frequency_bands')['high'] }} then '高频'
            when order_count_365d >= {{ var('tag_frequency_bands')['medium'] }} then '中频'
            when order_count_365d >= 1 then '低频'
            else '近一年未购'
        end as purchase_frequency,

        case preferred_channel
            {%- for code, name in var('channel_names_zh').items() %}
            when '{{ code }}' then '{{ name }}'
            {%- endfor %}
            else case when order_count = 0 then '未购买' else '未知' end
        end as channel_preference,

        case active_daypart
            {%- for code, name in var('daypart_names_zh').items() %}
            when '{{ code }}' then '{{ name }}'
            {%- endfor %}
            else '未知'
        end as daypart_preference,

        case
            when weekend_activity_share is null then '未知'
            when weekend_activity_share >= {{ var('tag_weekend_share_min') }} then '周末型'
            else '工作日型'
        end as weekday_preference,

        case
            when sessions_90d is null then '未知'
            when sessions_90d = 0 then '近期未浏览'
            when browse_depth >= {{ var('tag_browse_depth_bands')['deep'] }} then '深度浏览'
            when browse_depth >= {{ var('tag_browse_depth_bands')['medium'] }} then '中度浏览'
            else '浅度浏览'
        end as browse_depth_band,

        case
            when order_count = 0 then '未购买'
            when coupon_order_share is null then '未知'
            when coupon_order_share >= {{ var('tag_coupon_sensitivity_bands')['high'] }} then '高'
            when coupon_order_share >= {{ var('tag_coupon_sensitivity_bands')['medium'] }} then '中'
            else '低'
        end as coupon_sensitivity,

        case
            when order_count = 0 then '未购买'
            when avg_item_price is null then '未知'
            when avg_item_price >= {{ var('tag_price_bands')['premium'] }} then '高端'
            when avg_item_price >= {{ var('tag_price_bands')['mid'] }} then '中端'
            else '大众'
        end as price_band,

        case
            when order_count = 0 then '未购买'
            when channel_count = 0 then '未知'
            when channel_count >= 2 then '多渠道'
            else '单渠道'
        end as omnichannel,

        case
            when order_count = 0 then '未购买'
            when online_order_share is null then '未知'
            when online_order_share >= {{ var('tag_online_share_bands')['online'] }} then '线上为主'
            when online_order_share <= {{ var('tag_online_share_bands')['offline'] }} then '线下为主'
            else '线上线下均衡'
        end as online_offline,

        case
            when order_count = 0 then '未购买'
            when order_count >= {{ var('tag_refund_prone')['min_orders'] }}
                and refund_share >= {{ var('tag_refund_prone')['min_share'] }} then '是'
            else '否'
        end as refund_prone,

        case
            when sessions_90d is null then '未知'
            when add_to_cart_rate >= {{ var('tag_cart_habit_min_rate') }} then '是'
            else '否'
        end as cart_habit

    from features

)

select * from final
