{#
    Engagement tags, one row per customer as of as_of_date: social sharing, content and
    campaign engagement. '未知' when the shop tracks no events or sends no campaigns.
#}
with features as (

    select * from {{ ref('customer_features') }}

),

final as (

    select
        customer_id,

        case
            when shares_90d is null then '未知'
            when shares_90d + comments_90d >= {{ var('tag_social_min_actions') }} then '是'
            else '否'
        end as social_driven,

        case
            when sessions_90d is null then '未知'
            when active_days_90d >= {{ var('tag_content_engaged')['min_active_days'] }}
                and browse_depth >= {{ var('tag_content_engaged')['min_browse_depth'] }} then '是'
            else '否'
        end as content_engaged,

        case
            when campaign_touches_365d is null then '未知'
            when campaign_touches_365d = 0 then '未触达'
            when campaign_click_rate >= {{ var('tag_campaign_response_bands')['high_click_rate'] }} then '高'
            when campaign_open_rate >= {{ var('tag_campaign_response_bands')['medium_open_rate'] }} then '中'
            else '低'
        end as campaign_responsiveness,

        case
            when sessions_90d is null then '未知'
            when favourite_rate >= {{ var('tag_favourite_habit_min_rate') }} then '是'
            else '否'
        end as favourite_habit

    from features

)

select * from final
