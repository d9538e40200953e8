{#
    One row per customer (a real person as resolved by OneID): the golden record chosen by
    survivorship (most trusted source system, then most recently updated, first non-null per
    attribute), identifier counts by type, first and last seen, and lifetime commerce.
#}
{%- set record_order = "trust_rank, case when updated_at is null then 1 else 0 end, updated_at desc, customer_ref" -%}

with customer_ids as (

    select * from {{ ref('int_identity__customer_ids') }}

),

identifiers as (

    select * from {{ ref('int_identity__identifiers') }}

),

crm_records as (

    select * from {{ ref('stg_crm__customers') }}

),

source_trust as (

    select * from {{ ref('source_system_trust') }}

),

orders as (

    select * from {{ ref('int_orders_attributed') }}
    where customer_id is not null

),

customers as (

    select
        customer_id,
        min(component_label) as component_label,
        count(*) as identifier_count,
        sum(case when id_type = 'member_id' then 1 else 0 end) as member_id_count,
        sum(case when id_type = 'phone' then 1 else 0 end) as phone_count,
        sum(case when id_type = 'email' then 1 else 0 end) as email_count,
        sum(case when id_type = 'device_id' then 1 else 0 end) as device_id_count,
        sum(case when id_type = 'wechat_openid' then 1 else 0 end) as wechat_openid_count,
        sum(case when id_type = 'cookie' then 1 else 0 end) as cookie_count

    from customer_ids
    group by 1

),

seen as (

    select
        customer_ids.customer_id,
        min(identifiers.first_seen_at) as first_seen_at,
        max(identifiers.last_seen_at) as last_seen_at

    from customer_ids
    inner join identifiers on identifiers.identifier_key = customer_ids.identifier_key
    group by 1

),

records as (

    select
        customer_ids.customer_id,
        crm_records.*,
        coalesce(source_trust.trust_rank, 99) as trust_rank

    from crm_records
    inner join customer_ids
        on customer_ids.identifier_key = {{ identifier_key("'member_id'", 'crm_records.customer_ref') }}
    left join source_trust on source_trust.source_system = crm_records.source_system

),

golden_values as (

    select
        customer_id,
        {{ survivor('customer_ref', 'customer_id', record_order) }} as primary_customer_ref,
        {{ survivor('source_system', 'customer_id', record_order) }} as primary_source_system,
        {{ survivor('name_hash', 'customer_id', record_order) }} as name_hash,
        {{ survivor("nullif(gender, 'unknown')", 'customer_id', record_order) }} as gender,
        {{ survivor('birth_date', 'customer_id', record_order) }} as birth_date,
        {{ survivor('province_name_zh', 'customer_id', record_order) }} as province_name_zh,
        {{ survivor('city_code', 'customer_id', record_order) }} as city_code,
        {{ survivor('city_name_zh', 'customer_id', record_order) }} as city_name_zh,
        {{ survivor('city_tier', 'customer_id', record_order) }} as city_tier,
        {{ survivor('register_channel', 'customer_id', record_order) }} as register_channel,
        {{ survivor('has_marketing_consent', 'customer_id', record_order) }} as has_marketing_consent,
        case member_level
            when 'diamond' then 4 when 'gold' then 3 when 'silver' then 2 when 'regular' then 1
        end as member_level_rank,
        registered_at

    from records

),

golden as (

    select
        customer_id,
        min(primary_customer_ref) as primary_customer_ref,
        min(primary_source_system) as primary_source_system,
        count(*) as member_record_count,
        min(name_hash) as name_hash,
        min(gender) as gender,
        min(birth_date) as birth_date,
        min(province_name_zh) as province_name_zh,
        min(city_code) as city_code,
        min(city_name_zh) as city_name_zh,
        min(city_tier) as city_tier,
        min(register_channel) as register_channel,
        {{ dbt.bool_or('has_marketing_consent') }} as has_marketing_consent,
        max(member_level_rank) as member_level_rank,
        min(registered_at) as registered_at

    from golden_values
    group by 1

),

commerce as (

    select
        customer_id,
        sum(case when not is_cancelled_or_refunded then 1 else 0 end) as lifetime_orders,
        sum(case when not is_cancelled_or_refunded then total_amount else 0 end) as lifetime_spend,
        sum(case when order_status = 'refunded' then 1 else 0 end) as lifetime_refunded_orders,
        sum(case when order_status = 'refunded' then total_amount else 0 end) as lifetime_refunded_amount,
        sum(case when order_status = 'cancelled' then 1 else 0 end) as lifetime_cancelled_orders,
        sum(case when channel = 'offline_store' and not is_cancelled_or_refunded then 1 else 0 end) as offline_store_orders,
        sum(case when channel = 'online_store' and not is_cancelled_or_refunded then 1 else 0 end) as online_store_orders,
        sum(case when channel = 'app' and not is_cancelled_or_refunded then 1 else 0 end) as app_orders,
        sum(case when channel = 'mini_program' and not is_cancelled_or_refunded then 1 else 0 end) as mini_program_orders,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at

    from orders
    group by 1

),

final as (

    select
        customers.customer_id,
        golden.primary_customer_ref,
        golden.primary_source_system,
        golden.name_hash,
        coalesce(golden.gender, 'unknown') as gender,
        golden.province_name_zh,
        golden.city_code,
        golden.city_name_zh,
        golden.city_tier,
        golden.register_channel,
        case golden.member_level_rank
            when 4 then 'diamond' when 3 then 'gold' when 2 then 'silver' when 1 then 'regular'
        end as member_level,
        {%- for count in ['member_record_count'] %}
        cast(coalesce(golden.{{ count }}, 0) as {{ dbt.type_bigint() }}) as {{ count }},
        {%- endfor %}
        {%- for count in ['identifier_count', 'member_id_count', 'phone_count', 'email_count',
                          'device_id_count', 'wechat_openid_count', 'cookie_count'] %}
        cast(customers.{{ count }} as {{ dbt.type_bigint() }}) as {{ count }},
        {%- endfor %}
        {%- for count in ['lifetime_orders', 'lifetime_refunded_orders', 'lifetime_cancelled_orders',
                          'offline_store_orders', 'online_store_orders', 'app_orders', 'mini_program_orders'] %}
        cast(coalesce(commerce.{{ count }}, 0) as {{ dbt.type_bigint() }}) as {{ count }},
        {%- endfor %}
        {%- for amount in ['lifetime_spend', 'lifetime_refunded_amount'] %}
        cast(coalesce(commerce.{{ amount }}, 0) as {{ dbt.type_numeric() }}) as {{ amount }},
        {%- endfor %}
        golden.customer_id is not null as is_member,
        coalesce(golden.has_marketing_consent, false) as has_marketing_consent,
        golden.birth_date,
        golden.registered_at,
        seen.first_seen_at,
        seen.last_seen_at,
        commerce.first_order_at,
        commerce.last_order_at

    from customers
    left join golden on golden.customer_id = customers.customer_id
    left join seen on seen.customer_id = customers.customer_id
    left join commerce on commerce.customer_id = customers.customer_id

)

select * from final
