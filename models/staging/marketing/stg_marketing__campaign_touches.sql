with source as (

    select * from {{ source('marketing', 'campaign_touches') }}

),

renamed as (

    select
        campaign_id,
        customer_ref,
        channel as touch_channel,
        {{ adapter.quote('group') }} as assignment_group,
        {{ dbt.safe_cast('sent_at', dbt.type_timestamp()) }} as sent_at,
        {{ dbt.safe_cast('opened_at', dbt.type_timestamp()) }} as opened_at,
        {{ dbt.safe_cast('clicked_at', dbt.type_timestamp()) }} as clicked_at

    from source

)

select * from renamed
