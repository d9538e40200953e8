with surveys as (

    select * from {{ ref('base_service__surveys') }}

),

final as (

    select
        customer_ref,
        nps_score,
        answered_at

    from surveys
    where quarantine_reason is null

)

select * from final
