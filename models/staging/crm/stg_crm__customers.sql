with customers as (

    select * from {{ ref('base_crm__customers') }}

),

final as (

    select
        customer_ref,
        source_system,
        name_hash,
        phone_hash,
        email_hash,
        gender,
        city_code,
        city_name_zh,
        city_tier,
        province_name_zh,
        register_channel,
        member_level,
        has_marketing_consent,
        birth_date,
        registered_at,
        updated_at

    from customers
    where quarantine_reason is null

)

select * from final
