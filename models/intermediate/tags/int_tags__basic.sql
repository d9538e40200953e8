{#
    Basic tags, one row per customer as of as_of_date: who they are, from the golden record.
    Rules are in plain SQL; display names of codes come from vars.
#}
with features as (

    select * from {{ ref('customer_features') }}

),

customers as (

    select * from {{ ref('customer_360') }}

),

final as (

    select
        features.customer_id,

        case customers.gender when 'female' then '女' when 'male' then '男' else '未知' end as gender,

        {#- the generation a Chinese customer names themselves by: born 1990-1999 is 90后 #}
        case
            when customers.birth_date is null then '未知'
            when extract(year from customers.birth_date) < 1960 then '60前'
            {%- for decade, band in [(1960, '60后'), (1970, '70后'), (1980, '80后'), (1990, '90后'), (2000, '00后')] %}
            when extract(year from customers.birth_date) < {{ decade + 10 }} then '{{ band }}'
            {%- endfor %}
            else '10后'
        end as age_band,

        coalesce(customers.province_name_zh, '未知') as province,
        coalesce(customers.city_name_zh, '未知') as city,

        case customers.city_tier
            when 'tier_1' then '一线'
            when 'new_tier_1' then '新一线'
            when 'tier_2' then '二线'
            when 'tier_3' then '三线'
            when 'tier_4' then '四线'
            when 'tier_5' then '五线'
            else '未知'
        end as city_tier,

        case customers.member_level
            when 'diamond' then '钻石'
            when 'gold' then '金卡'
            when 'silver' then '银卡'
            when 'regular' then '普通会员'
            else '非会员'
        end as member_level,

        case customers.register_channel
            {%- for code, name in var('channel_names_zh').items() %}
            when '{{ code }}' then '{{ name }}'
            {%- endfor %}
            else '未知'
        end as register_channel,

        case when customers.has_marketing_consent then '已授权' else '未授权' end as marketing_consent

    from features
    left join customers on customers.customer_id = features.customer_id

)

select * from final
