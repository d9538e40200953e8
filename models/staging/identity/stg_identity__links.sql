with links as (

    select * from {{ ref('base_identity__links') }}

),

final as (

    select
        id_type_a,
        id_value_a,
        id_type_b,
        id_value_b,
        link_source,
        observed_at

    from links
    where quarantine_reason is null

)

select * from final
