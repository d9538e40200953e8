{#
    Lifecycle tags, one row per customer as of as_of_date: where they are in their life with
    the brand. Stage thresholds are vars (lifecycle_*); "within N days" means the last N days
    up to and including as_of_date.
#}
with features as (

    select * from {{ ref('customer_features') }}

),

final as (

    select
        customer_id,

        case
            when order_count = 0 then '潜客'
            when {{ dbt.datediff('first_order_date', 'as_of_date', 'day') }} < {{ var('lifecycle_new_days') }} then '新客'
            when recency_days < {{ var('lifecycle_active_days') }}
                and days_between_last_two_orders >= {{ var('lifecycle_returning_gap_days') }} then '回流'
            when recency_days < {{ var('lifecycle_active_days') }} then '活跃'
            when recency_days < {{ var('lifecycle_silent_days') }} then '沉默'
            when recency_days < {{ var('lifecycle_dormant_days') }} then '沉睡'
            else '流失'
        end as lifecycle_stage,

        {%- set tenure = var('tag_tenure_band_days') %}
        case
            when tenure_days < {{ tenure[0] }} then '3个月内'
            when tenure_days < {{ tenure[1] }} then '3-12个月'
            when tenure_days < {{ tenure[2] }} then '1-2年'
            else '2年以上'
        end as tenure_band,

        {%- set cycle = var('tag_repurchase_cycle_days') %}
        case
            when order_count = 0 then '未购买'
            when avg_days_between_orders is null then '未复购'
            when avg_days_between_orders <= {{ cycle[0] }} then '月度复购'
            when avg_days_between_orders <= {{ cycle[1] }} then '季度复购'
            when avg_days_between_orders <= {{ cycle[2] }} then '半年复购'
            else '低频复购'
        end as repurchase_cycle,

        {%- set recency = var('tag_activity_recency_days') %}
        {%- set days_since_active = 'coalesce(least(recency_days, days_since_last_event), recency_days, days_since_last_event)' %}
        case
            when {{ days_since_active }} is null then '未知'
            when {{ days_since_active }} < {{ recency[0] }} then '7天内'
            when {{ days_since_active }} < {{ recency[1] }} then '30天内'
            when {{ days_since_active }} < {{ recency[2] }} then '90天内'
            else '90天以上'
        end as activity_recency

    from features

)

select * from final
