{#
    Value tags, one row per customer as of as_of_date: RFM scores and classes, value tier,
    order value band and spend trend. Scores rank buyers against each other as of the same
    day; ties share a score; the most recent, most frequent and biggest spenders score 5.
#}
with features as (

    select * from {{ ref('customer_features') }}

),

buyers as (

    select
        customer_id,
        recency_days,
        order_count,
        monetary_total,
        monetary_365d,
        {#- percent_rank gives tied customers the same (lowest) rank, so ties share a score #}
        percent_rank() over (order by recency_days desc) as recency_rank,
        percent_rank() over (order by order_count) as frequency_rank,
        percent_rank() over (order by monetary_total) as monetary_rank,
        {#- the classic RFM classes compare each customer with the average buyer #}
        avg(recency_days) over () as mean_recency_days,
        avg(order_count) over () as mean_order_count,
        avg(monetary_total) over () as mean_monetary_total

    from features
    where order_count > 0

),

spenders as (

    select
        customer_id,
        {#- share of last year's spenders who spent more: 0 for the biggest #}
        percent_rank() over (order by monetary_365d desc) as spend_rank

    from features
    where monetary_365d > 0

),

scored as (

    select
        customer_id,
        least(5, 1 + floor(5 * recency_rank)) as r_score,
        least(5, 1 + floor(5 * frequency_rank)) as f_score,
        least(5, 1 + floor(5 * monetary_rank)) as m_score,
        recency_days < mean_recency_days as is_recent,
        order_count > mean_order_count as is_frequent,
        monetary_total > mean_monetary_total as is_big_spender

    from buyers

),

final as (

    select
        features.customer_id,

        {%- for score in ['r_score', 'f_score', 'm_score'] %}
        coalesce(cast(cast(scored.{{ score }} as {{ dbt.type_int() }}) as {{ dbt.type_string() }}), '未购买') as {{ score }},
        {%- endfor %}

        case
            when scored.customer_id is null then '未购买'
            when scored.is_big_spender and scored.is_recent and scored.is_frequent then '重要价值客户'
            when scored.is_big_spender and scored.is_recent then '重要发展客户'
            when scored.is_big_spender and scored.is_frequent then '重要保持客户'
            when scored.is_big_spender then '重要挽留客户'
            when scored.is_recent and scored.is_frequent then '一般价值客户'
            when scored.is_recent then '一般发展客户'
            when scored.is_frequent then '一般保持客户'
            else '一般挽留客户'
        end as rfm_class,

        case
            when features.order_count = 0 then '未购买'
            when spenders.customer_id is null then '近一年无消费'
            when spenders.spend_rank < {{ var('tag_value_tier_shares')['top'] }} then '头部'
            when spenders.spend_rank < {{ var('tag_value_tier_shares')['high'] }} then '高价值'
            when spenders.spend_rank < {{ var('tag_value_tier_shares')['medium'] }} then '中价值'
            else '低价值'
        end as value_tier,

        case
            when features.order_count = 0 then '未购买'
            when features.avg_order_value >= {{ var('tag_aov_bands')['high'] }} then '高'
            when features.avg_order_value >= {{ var('tag_aov_bands')['medium'] }} then '中'
            else '低'
        end as aov_band,

        case
            when features.order_count = 0 then '未购买'
            when features.monetary_90d = 0 and features.monetary_prior_90d = 0 then '近半年无消费'
            when features.monetary_90d >= (1 + {{ var('tag_trend_change') }}) * features.monetary_prior_90d then '上升'
            when features.monetary_90d <= (1 - {{ var('tag_trend_change') }}) * features.monetary_prior_90d then '下降'
            else '平稳'
        end as spend_trend

    from features
    left join scored on scored.customer_id = features.customer_id
    left join spenders on spenders.customer_id = features.customer_id

)

select * from final
