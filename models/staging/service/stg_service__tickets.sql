with source as (

    select * from {{ source('service', 'support_tickets') }}

),

renamed as (

    select
        ticket_id,
        customer_ref,
        topic as ticket_topic,
        {{ dbt.safe_cast('satisfaction', dbt.type_int()) }} as satisfaction_score,
        {{ dbt.safe_cast('opened_at', dbt.type_timestamp()) }} as opened_at,
        {{ dbt.safe_cast('resolved_at', dbt.type_timestamp()) }} as resolved_at

    from source

)

select * from renamed
