with touches as (

    select * from {{ ref('base_marketing__campaign_touches') }}

),

final as (

    select
        campaign_id,
        customer_ref,
        touch_channel,
        assignment_group,
        sent_at,
        opened_at,
        clicked_at

    from touches
    where quarantine_reason is null

)

select * from final
