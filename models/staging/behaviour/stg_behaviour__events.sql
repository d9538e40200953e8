with events as (

    select * from {{ ref('base_behaviour__events') }}

),

final as (

    select
        event_id,
        session_id,
        id_type,
        id_value,
        event_type,
        category_name,
        platform,
        dwell_seconds,
        event_at

    from events
    where quarantine_reason is null

)

select * from final
