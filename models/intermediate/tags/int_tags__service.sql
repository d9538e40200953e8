{#
    Service tags, one row per customer as of as_of_date: tickets, complaints, satisfaction
    and NPS. '未知' when the shop sends no tickets or surveys, or the customer never answered.
#}
with features as (

    select * from {{ ref('customer_features') }}

),

final as (

    select
        customer_id,

        case
            when complaints_365d is null then '未知'
            when complaints_365d >= {{ var('tag_complaint_prone_min') }} then '是'
            else '否'
        end as complaint_prone,

        case
            when latest_nps_score is null then '未知'
            when latest_nps_score >= {{ var('tag_nps_bands')['promoter'] }} then '推荐者'
            when latest_nps_score >= {{ var('tag_nps_bands')['passive'] }} then '被动者'
            else '贬损者'
        end as nps_group,

        case
            when avg_satisfaction is null then '未知'
            when avg_satisfaction >= {{ var('tag_satisfaction_bands')['satisfied'] }} then '满意'
            when avg_satisfaction >= {{ var('tag_satisfaction_bands')['neutral'] }} then '一般'
            else '不满意'
        end as satisfaction_band,

        case
            when tickets_365d is null then '未知'
            when tickets_365d >= {{ var('tag_service_contact_bands')['frequent'] }} then '频繁'
            when tickets_365d >= {{ var('tag_service_contact_bands')['occasional'] }} then '偶尔'
            else '无'
        end as service_contact

    from features

)

select * from final
