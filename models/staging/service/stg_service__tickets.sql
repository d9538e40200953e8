with tickets as (

    select * from {{ ref('base_service__tickets') }}

),

final as (

    select
        ticket_id,
        customer_ref,
        ticket_topic,
        satisfaction_score,
        opened_at,
        resolved_at

    from tickets
    where quarantine_reason is null

)

select * from final
