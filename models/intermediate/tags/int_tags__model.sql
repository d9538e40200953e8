{#
    Model tags, one row per customer as of as_of_date: the segment, the churn-risk tier, the
    forecast value tier and the P(alive) band (alive_likelihood) from the Python models. '未知'
    when the model has not scored the customer (a plain dbt build without the Python step),
    '未购买' for people who never bought.
#}
with features as (

    select * from {{ ref('customer_features') }}

),

segments as (

    select * from {{ ref('customer_segments') }}

),

churn as (

    select * from {{ ref('churn_scores') }}

),

value as (

    select
        customer_id,
        clv,
        p_alive,
        {#- share of scored customers with a higher CLV: 0 for the most valuable #}
        percent_rank() over (order by clv desc) as clv_rank

    from {{ ref('customer_value') }}

),

final as (

    select
        features.customer_id,

        coalesce(segments.segment_name_zh, '未知') as segment,

        case
            when features.order_count = 0 then '未购买'
            when churn.risk_tier = 'high' then '高'
            when churn.risk_tier = 'medium' then '中'
            when churn.risk_tier = 'low' then '低'
            else '未知'
        end as churn_risk,

        case
            when features.order_count = 0 then '未购买'
            when value.clv is null then '未知'
            when value.clv_rank < {{ var('tag_predicted_value_shares')['high'] }} then '高'
            when value.clv_rank < {{ var('tag_predicted_value_shares')['medium'] }} then '中'
            else '低'
        end as predicted_value,

        {#- BG/NBD lets a customer drop out only after a repeat purchase, so it calls every
            one-time buyer alive (P = 1), a buyer of two years ago too: no band for them #}
        case
            when features.order_count = 0 then '未购买'
            when value.p_alive is null then '未知'
            when features.purchase_days = 1 then '仅购一次'
            when value.p_alive >= {{ var('tag_p_alive_bands')['likely'] }} then '大概率活跃'
            when value.p_alive >= {{ var('tag_p_alive_bands')['uncertain'] }} then '不确定'
            else '大概率流失'
        end as alive_likelihood

    from features
    left join segments on segments.customer_id = features.customer_id
    left join churn on churn.customer_id = features.customer_id
    left join value on value.customer_id = features.customer_id

)

select * from final
