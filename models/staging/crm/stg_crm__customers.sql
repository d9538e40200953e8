with source as (

    select * from {{ source('crm', 'customers') }}

),

renamed as (

    select
        customer_ref,
        source_system,
        name as customer_name,
        gender as gender_raw,
        phone as phone_raw,
        email as email_raw,
        province as province_raw,
        city as city_raw,
        register_channel,
        member_level,
        {{ dbt.safe_cast('marketing_consent', dbt.type_boolean()) }} as has_marketing_consent,
        {{ dbt.safe_cast('birth_date', api.Column.translate_type('date')) }} as birth_date,
        {{ dbt.safe_cast('registered_at', dbt.type_timestamp()) }} as registered_at,
        {{ dbt.safe_cast('updated_at', dbt.type_timestamp()) }} as updated_at

    from source

)

select * from renamed
